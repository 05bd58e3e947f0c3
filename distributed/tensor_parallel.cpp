// Tensor parallelism: the partition rules and every collective of the TP group (see tensor_parallel.h).
#include "distributed/tensor_parallel.h"

#include <algorithm>

#include "core/status.h"

namespace stepwise {

const char* tp_split_name(TpSplit split) {
  switch (split) {
    case TpSplit::kReplicated: return "replicated";
    case TpSplit::kColumnParallel: return "column-parallel";
    case TpSplit::kRowParallel: return "row-parallel";
    case TpSplit::kVocabParallel: return "vocab-parallel";
  }
  return "?";
}

int64_t split_evenly(int64_t value, int tp_size, const char* what) {
  if (value % tp_size != 0)
    invalid_argument(what, " (", value, ") is not divisible by the tensor-parallel size (", tp_size,
                     "); choose a TP size that divides it");
  return value / tp_size;
}

VocabRange vocab_range(int64_t vocab, int tp_rank, int tp_size) {
  SW_CHECK(tp_size >= 1 && tp_rank >= 0 && tp_rank < tp_size, "tp rank ", tp_rank, " of ", tp_size);
  const int64_t chunk = (vocab + tp_size - 1) / tp_size;
  const int64_t start = std::min<int64_t>(vocab, chunk * tp_rank);
  return {start, std::min<int64_t>(vocab, start + chunk) - start};
}

TpShard tp_shard(TpSplit split, const Shape& full, int tp_rank, int tp_size, const std::string& name) {
  SW_CHECK(tp_size >= 1 && tp_rank >= 0 && tp_rank < tp_size, "tp rank ", tp_rank, " of ", tp_size);
  TpShard s;
  s.shape = full;
  if (split == TpSplit::kReplicated) return s;
  SW_CHECK(full.size() == 2, name, ": a ", tp_split_name(split), " tensor is 2-D, got ", shape_str(full));
  if (split == TpSplit::kVocabParallel) {
    const VocabRange r = vocab_range(full[0], tp_rank, tp_size);
    s.dim = 0;
    s.start = r.start;
    s.shape[0] = r.size;
    return s;
  }
  s.dim = split == TpSplit::kColumnParallel ? 0 : 1;
  const std::string what = name + " dimension " + std::to_string(s.dim);
  s.shape[s.dim] = split_evenly(full[s.dim], tp_size, what.c_str());
  s.start = tp_rank * s.shape[s.dim];
  return s;
}

void reduce_embedding_output(Communicator& tp, Tensor& x) { tp.all_reduce(x, ReduceOp::kSum); }

void reduce_row_parallel_output(Communicator& tp, Tensor& y) { tp.all_reduce(y, ReduceOp::kSum); }

void reduce_logit_max(Communicator& tp, Tensor& row_max) { tp.all_reduce(row_max, ReduceOp::kMax); }

void reduce_logit_sums(Communicator& tp, Tensor& sum_exp, Tensor& target_logit) {
  tp.all_reduce(sum_exp, ReduceOp::kSum);
  tp.all_reduce(target_logit, ReduceOp::kSum);
}

void reduce_column_parallel_input_grad(Communicator& tp, Tensor& dx) { tp.all_reduce(dx, ReduceOp::kSum); }

void reduce_partial_weight_grad(Communicator& tp, Tensor& grad) { tp.all_reduce(grad, ReduceOp::kSum); }

double sum_sharded_grad_squares(Communicator& tp, double local_sum_of_squares) {
  return sum_over_ranks(tp, local_sum_of_squares);
}

// Every rank sends [N, chunk] (the first rank's range is a full chunk; a shorter last range is padded with zeros)
// and the gathered [tp, N, chunk] is laid back out as [N, vocab].
std::vector<float> gather_vocab_parallel_logits(Communicator& tp, const Tensor& local_logits, int64_t vocab) {
  if (tp.size() == 1) return local_logits.to_f32_vector();
  const int64_t rows = local_logits.size(0), local = local_logits.size(1);
  const int64_t chunk = vocab_range(vocab, 0, tp.size()).size;
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
    const VocabRange r = vocab_range(vocab, rank, tp.size());
    for (int64_t row = 0; row < rows; ++row)
      std::copy_n(parts.begin() + (rank * rows + row) * chunk, r.size, full.begin() + row * vocab + r.start);
  }
  return full;
}

void broadcast_step_plan(Communicator& tp, std::vector<int32_t>& words) {
  if (tp.size() == 1) return;
  Tensor length = Tensor::from_vector(std::vector<int32_t>{static_cast<int32_t>(words.size())}, {1}).to(tp.device());
  tp.broadcast(length, 0);
  const int32_t n = length.to(Device::kCPU).data_as<int32_t>()[0];
  SW_CHECK(n >= 0, "step plan of ", n, " words from rank 0");
  if (tp.rank() != 0) words.assign(static_cast<size_t>(n), 0);
  if (n == 0) return;
  Tensor payload = Tensor::from_vector(words, {n}).to(tp.device());
  tp.broadcast(payload, 0);
  if (tp.rank() != 0) {
    const Tensor host = payload.to(Device::kCPU);
    std::copy_n(host.data_as<int32_t>(), n, words.begin());
  }
}

}  // namespace stepwise
