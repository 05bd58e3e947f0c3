// Tensor parallelism in one place, after Megatron-Core's tensor_parallel/mappings.py: the rules that split a tensor
// over the ranks of a TP group, and every point where those ranks talk, each a function named by its role. The
// model, its LM-head loss, the optimizer's gradient norm and generation reach the TP group only through these
// functions (tests/lint/check_collectives.py fails the build's tests when a collective is called anywhere else), so
// this list is the whole of TP communication. For one training step of a Qwen3 model (Megatron layout):
//
//   forward   reduce_embedding_output            after the vocab-parallel embedding lookup
//             reduce_row_parallel_output         after o_proj and down_proj (each rank holds a partial sum)
//             reduce_logit_max, reduce_logit_sums the vocab-parallel cross-entropy's row statistics
//   backward  reduce_column_parallel_input_grad  after q/k/v, gate/up and the LM head (each rank holds a part)
//   per step  reduce_partial_weight_grad         replicated weights applied to this rank's heads (q/k norms)
//             sum_sharded_grad_squares           the gradient norm over the shards of every rank
//   decoding  gather_vocab_parallel_logits       the whole vocabulary's logits, for sampling and scoring
//   serving   broadcast_step_plan                rank 0's plan of each serving step, run by the group in lock-step
//
// A single process uses the size-1 communicator, for which every collective is the identity.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "distributed/communicator.h"

namespace stepwise {

// How tensor parallelism splits a weight. A Linear weight is stored [out, in] (Hugging Face layout).
enum class TpSplit {
  kReplicated,      // every rank holds the whole tensor
  kColumnParallel,  // split along out (dim 0), evenly: each rank computes some of the outputs
  kRowParallel,     // split along in (dim 1), evenly: each rank computes a partial sum of every output
  kVocabParallel,   // an embedding or LM head [vocab, hidden], split along dim 0 into contiguous vocab_range()s
};
const char* tp_split_name(TpSplit split);  // "replicated", "column-parallel", ...

// This rank's part of a full tensor: rows (dim 0) or columns (dim 1) [start, start + shape[dim]); dim -1: all.
struct TpShard {
  int dim = -1;
  int64_t start = 0;
  Shape shape;
};
// INVALID_ARGUMENT naming `name` and both numbers when an even split does not divide.
TpShard tp_shard(TpSplit split, const Shape& full, int tp_rank, int tp_size, const std::string& name);

// value / tp_size for a count split evenly (attention heads, KV heads, the MLP's intermediate size); INVALID_ARGUMENT
// naming `what`, the value and the TP size when it does not divide.
int64_t split_evenly(int64_t value, int tp_size, const char* what);

// The vocabulary rows of a rank: contiguous chunks of ceil(vocab / tp_size), the last one shorter.
struct VocabRange {
  int64_t start = 0, size = 0;
};
VocabRange vocab_range(int64_t vocab, int tp_rank, int tp_size);

// --- Forward ---------------------------------------------------------------------------------------------------
// x [N, D]: each rank looked up only the ids of its vocabulary range (zeros elsewhere); afterwards every rank holds
// the full embeddings.
void reduce_embedding_output(Communicator& tp, Tensor& x);
// y [N, D] = the partial product of a row-parallel Linear on each rank; afterwards the full output on every rank.
void reduce_row_parallel_output(Communicator& tp, Tensor& y);
// The vocab-parallel cross-entropy's row statistics over this rank's logits: the maximum, then the sums of
// exponentials and the target's logit (zero on ranks that do not hold the target); afterwards, over the vocabulary.
void reduce_logit_max(Communicator& tp, Tensor& row_max);
void reduce_logit_sums(Communicator& tp, Tensor& sum_exp, Tensor& target_logit);

// --- Backward --------------------------------------------------------------------------------------------------
// dx [N, in] = each rank's contribution to the input gradient of a column-parallel Linear (its output features
// only); afterwards the full input gradient on every rank.
void reduce_column_parallel_input_grad(Communicator& tp, Tensor& dx);
// The gradient of a replicated weight that each rank applied to its own heads only; afterwards the full gradient.
void reduce_partial_weight_grad(Communicator& tp, Tensor& grad);
// The sum over the TP group of each rank's sum of squares of its sharded gradients (replicated tensors are counted
// once, by the caller).
double sum_sharded_grad_squares(Communicator& tp, double local_sum_of_squares);

// --- Decoding and scoring --------------------------------------------------------------------------------------
// This rank's logits [N, V_local] (its vocab_range) -> the full rows [N, vocab] on the host, on every rank.
std::vector<float> gather_vocab_parallel_logits(Communicator& tp, const Tensor& local_logits, int64_t vocab);

// --- Serving ---------------------------------------------------------------------------------------------------
// The serving engine's plan of one step (infer/step_plan.h, as int32 words), from the group's rank 0 to every
// rank: `words` is read on rank 0 and replaced on the others (its length travels first).
void broadcast_step_plan(Communicator& tp, std::vector<int32_t>& words);

}  // namespace stepwise
