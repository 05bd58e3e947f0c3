// GreedyDecoder (model/greedy_decoder.h): one-block paged view of a KvCache, device-side step state, the recorded
// step.
#include "model/greedy_decoder.h"

#include "core/status.h"
#include "kernels/ops.h"

namespace stepwise {

namespace k = kernels;

GreedyDecoder::GreedyDecoder(Qwen3Model& model, KvCache& cache, bool record) : model_(model), cache_(cache) {
  SW_CHECK(model.tp().size() == 1, "GreedyDecoder needs the whole model in one process, not a TP group of ",
           model.tp().size());
  SW_CHECK(cache.length == 0 && cache.capacity > 0, "GreedyDecoder needs an empty KV cache, got ", cache.length, " of ",
           cache.capacity, " rows filled");
  const Device device = model.options_.device;
  bufs_ = plan_forward_buffers(model.dims_, 1, /*training=*/false, /*recompute=*/false, model.options_.compute_dtype,
                               device);
  pool_.k = cache.k;
  pool_.v = cache.v;
  pool_.num_blocks = 1;
  pool_.block_size = cache.capacity;
  pool_.block = cache.block;
  ids_ = Tensor::empty({1}, DType::kI32, device);
  logits_ = Tensor::empty({1, model.dims_.vocab}, DType::kF32, device);
  step_.tokens = ids_;
  step_.positions = Tensor::empty({1}, DType::kI32, device);
  step_.slots = step_.positions;  // one block: a token's pool row is its position
  step_.paged.cu_q = Tensor::from_vector(std::vector<int32_t>{0, 1}, {2}).to(device);
  step_.paged.seq_lens = Tensor::empty({1}, DType::kI32, device);
  step_.paged.block_tables = Tensor::from_vector(std::vector<int32_t>{0}, {1, 1}).to(device);
  step_.paged.block_size = cache.capacity;
  step_.paged.max_q = 1;
  step_.paged.max_k = cache.capacity;  // fixed launch shapes for the recording; the lengths come from the device
  step_.size = 1;
  graph_ = std::make_unique<k::OpGraph>(
      device, [this] { step_ops(); }, record);
}

void GreedyDecoder::step_ops() {
  model_.forward(step_, bufs_, {nullptr, &pool_});
  k::linear_forward(logits_, bufs_.final_norm.rows(0, 1), model_.weights_.lm_head);
  k::argmax_rows(ids_, logits_, model_.config_.vocab_size);
  k::increment(step_.positions, 1);
  k::increment(step_.paged.seq_lens, 1);
}

int32_t GreedyDecoder::chosen() const { return ids_.to(Device::kCPU).data_as<int32_t>()[0]; }

int32_t GreedyDecoder::start(const std::vector<int32_t>& prompt) {
  SW_CHECK(!started_, "GreedyDecoder::start called twice");
  const Tensor logits = model_.forward_step(prompt, cache_);
  k::argmax_rows(ids_, logits, model_.config_.vocab_size);
  const int32_t length = static_cast<int32_t>(cache_.length);
  step_.positions.copy_from(Tensor::from_vector(std::vector<int32_t>{length}, {1}));
  step_.paged.seq_lens.copy_from(Tensor::from_vector(std::vector<int32_t>{length + 1}, {1}));
  started_ = true;
  return chosen();
}

int32_t GreedyDecoder::next() {
  SW_CHECK(started_, "GreedyDecoder::next before start");
  if (cache_.length + 1 > cache_.capacity)
    invalid_argument("the sequence would reach ", cache_.length + 1, " tokens but its KV cache holds ", cache_.capacity,
                     "; ask for fewer new tokens or a larger cache");
  {
    const k::ScopedCpuAccumulation accumulation(model_.options_.cpu_accumulation);
    graph_->run();
  }
  ++cache_.length;
  return chosen();
}

}  // namespace stepwise
