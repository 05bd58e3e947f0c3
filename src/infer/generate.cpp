// Single-sequence generation loop.
#include "infer/generate.h"

#include <algorithm>

#include "core/status.h"

namespace stepwise {

// Vocab-parallel rows [N, V_local] -> full rows [N, V] on the host. Each TP rank holds the vocabulary range of
// make_local_dims; rank 0's is a full chunk and the last rank's may be shorter, so every rank sends [N, chunk]
// (padded with zeros where short) and the gathered [tp, N, chunk] is laid back out as [N, V].
std::vector<float> gather_logits(Qwen3Model& model, const Tensor& local_logits) {
  Communicator& tp = model.tp();
  if (tp.size() == 1) return local_logits.to_f32_vector();
  const int64_t rows = local_logits.size(0), local = local_logits.size(1), vocab = model.config().vocab_size;
  const int64_t chunk = make_local_dims(model.config(), 0, tp.size()).vocab;
  Tensor padded = local_logits;
  if (local != chunk) {
    const std::vector<float> mine = local_logits.to_f32_vector();
    std::vector<float> host(static_cast<size_t>(rows * chunk), 0.0f);
    for (int64_t r = 0; r < rows; ++r) std::copy_n(mine.begin() + r * local, local, host.begin() + r * chunk);
    padded = Tensor::from_vector(host, {rows, chunk}).to(local_logits.device());
  }
  Tensor gathered = Tensor::empty({tp.size() * rows, chunk}, DType::kF32, local_logits.device());
  tp.all_gather(gathered, padded);
  const std::vector<float> parts = gathered.to_f32_vector();
  std::vector<float> full(static_cast<size_t>(rows * vocab));
  for (int rank = 0; rank < tp.size(); ++rank) {
    const Qwen3LocalDims d = make_local_dims(model.config(), rank, tp.size());
    const int64_t start = d.vocab_start, width = d.vocab;
    for (int64_t r = 0; r < rows; ++r)
      std::copy_n(parts.begin() + (rank * rows + r) * chunk, width, full.begin() + r * vocab + start);
  }
  return full;
}

std::vector<int32_t> generate(Qwen3Model& model, const GenerateRequest& req,
                              const std::function<void(int32_t)>& on_token) {
  req.sampling.validate();
  if (req.prompt.empty()) invalid_argument("the prompt is empty; give at least one token id");
  if (req.max_new_tokens < 0) invalid_argument("max_new_tokens must be >= 0, got ", req.max_new_tokens);
  std::vector<int32_t> out;
  if (req.max_new_tokens == 0) return out;
  KvCache cache = model.new_kv_cache(static_cast<int64_t>(req.prompt.size()) + req.max_new_tokens);
  Rng rng(req.sampling.seed);
  Tensor logits = model.forward_step(req.prompt, cache);
  while (true) {
    const int32_t next = sample_token(gather_logits(model, logits), req.sampling, rng);
    out.push_back(next);
    if (on_token) on_token(next);
    const bool stop = std::find(req.stop_tokens.begin(), req.stop_tokens.end(), next) != req.stop_tokens.end();
    if (stop || static_cast<int64_t>(out.size()) == req.max_new_tokens) break;
    logits = model.forward_step({next}, cache);
  }
  return out;
}

}  // namespace stepwise
