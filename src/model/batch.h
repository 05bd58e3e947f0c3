// TokenBatch: one packed micro-batch on the host — several documents laid end to end, each with its own
// positions (restarting at 0) and its own causal attention (never across a document boundary).
// targets[t] is the token to predict at position t (the next token of its document) or -100 for no loss.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "kernels/ops.h"

namespace stepwise {

constexpr int32_t kIgnoreTarget = -100;

struct TokenBatch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> targets;
  std::vector<int32_t> positions;
  std::vector<int32_t> cu_seqlens{0};  // document d owns tokens [cu_seqlens[d], cu_seqlens[d+1])

  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
  int64_t num_documents() const { return static_cast<int64_t>(cu_seqlens.size()) - 1; }
  int64_t num_targets() const;  // unmasked targets
  int64_t max_document_length() const;

  // Appends a document: its tokens and per-token labels in the Hugging Face convention (labels[t] = the token
  // at t, or -100 where it is not trained on); targets become the labels shifted left by one.
  void add_document(const std::vector<int32_t>& doc_tokens, const std::vector<int32_t>& labels);
  // Appends a document whose every next token is a target.
  void add_document(const std::vector<int32_t>& doc_tokens);
  void check(int64_t vocab_size) const;  // token ids in range, consistent lengths
};

// One step of the serving engine over a PagedKvCache: several sequences, each with its newest tokens (a chunk of
// its prompt, or the one token it sampled last) whose keys and values go to `slots` of the pool.
struct PagedStep {
  std::vector<int32_t> tokens, positions, slots;  // per token, sequences laid end to end
  std::vector<int32_t> cu_q{0};                   // sequence s owns tokens [cu_q[s], cu_q[s+1])
  std::vector<int32_t> seq_lens;                  // per sequence: its tokens in the cache after this step
  std::vector<int32_t> block_tables;              // [S, max_blocks], row-major; unused entries 0
  int64_t max_blocks = 0;
  std::vector<int32_t> logit_rows;  // the token rows whose next-token logits are wanted, ascending

  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
  int64_t num_sequences() const { return static_cast<int64_t>(seq_lens.size()); }
  // Consistent lengths, token ids below vocab_size, slots and blocks inside the pool.
  void check(int64_t vocab_size, int64_t num_blocks, int64_t block_size) const;
};

// The batch's index tensors on a device, as the model's ops take them.
struct DeviceBatch {
  Tensor tokens, targets, positions;  // i32 [N]
  kernels::SeqLayout seqs;            // cu_q == cu_k: training attends within each document
  kernels::PagedLayout paged;         // a PagedStep's sequences (serving)
  Tensor slots;                       // i32 [N]: a PagedStep's pool rows
  int64_t size = 0;
};
DeviceBatch upload(const TokenBatch& batch, Device device);
DeviceBatch upload(const PagedStep& step, int64_t block_size, Device device);

}  // namespace stepwise
