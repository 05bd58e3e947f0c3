// TokenBatch construction, validation and upload.
#include "model/batch.h"

#include <algorithm>

#include "core/status.h"

namespace stepwise {

int64_t TokenBatch::num_targets() const {
  return std::count_if(targets.begin(), targets.end(), [](int32_t t) { return t >= 0; });
}

int64_t TokenBatch::max_document_length() const {
  int64_t m = 0;
  for (size_t d = 0; d + 1 < cu_seqlens.size(); ++d) m = std::max<int64_t>(m, cu_seqlens[d + 1] - cu_seqlens[d]);
  return m;
}

void TokenBatch::add_document(const std::vector<int32_t>& doc_tokens, const std::vector<int32_t>& labels) {
  SW_CHECK(labels.size() == doc_tokens.size(), "document of ", doc_tokens.size(), " tokens with ", labels.size(),
           " labels");
  const size_t n = doc_tokens.size();
  for (size_t t = 0; t < n; ++t) {
    tokens.push_back(doc_tokens[t]);
    targets.push_back(t + 1 < n ? labels[t + 1] : kIgnoreTarget);
    positions.push_back(static_cast<int32_t>(t));
  }
  cu_seqlens.push_back(static_cast<int32_t>(tokens.size()));
}

void TokenBatch::add_document(const std::vector<int32_t>& doc_tokens) { add_document(doc_tokens, doc_tokens); }

void TokenBatch::check(int64_t vocab_size) const {
  SW_CHECK(targets.size() == tokens.size() && positions.size() == tokens.size() && !cu_seqlens.empty() &&
               cu_seqlens.front() == 0 && cu_seqlens.back() == static_cast<int32_t>(tokens.size()),
           "inconsistent TokenBatch");
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (tokens[t] < 0 || tokens[t] >= vocab_size)
      invalid_argument("token id ", tokens[t], " at position ", t, " is outside the model's vocabulary (size ",
                       vocab_size, ")");
    if (targets[t] >= vocab_size || (targets[t] < 0 && targets[t] != kIgnoreTarget))
      invalid_argument("target id ", targets[t], " at position ", t, " is outside the model's vocabulary (size ",
                       vocab_size, ")");
  }
}

DeviceBatch upload(const TokenBatch& batch, Device device) {
  DeviceBatch d;
  const int64_t n = batch.size(), docs = batch.num_documents();
  d.tokens = Tensor::from_vector(batch.tokens, {n}).to(device);
  d.targets = Tensor::from_vector(batch.targets, {n}).to(device);
  d.positions = Tensor::from_vector(batch.positions, {n}).to(device);
  d.seqs.cu_q = Tensor::from_vector(batch.cu_seqlens, {docs + 1}).to(device);
  d.seqs.cu_k = d.seqs.cu_q;
  d.seqs.max_q = d.seqs.max_k = batch.max_document_length();
  d.size = n;
  return d;
}

void PagedStep::check(int64_t vocab_size, int64_t num_blocks, int64_t block_size) const {
  const int64_t n = size(), s = num_sequences(), num_slots = num_blocks * block_size;
  SW_CHECK(positions.size() == tokens.size() && slots.size() == tokens.size() && cu_q.size() == seq_lens.size() + 1 &&
               cu_q.front() == 0 && cu_q.back() == n && static_cast<int64_t>(block_tables.size()) == s * max_blocks,
           "inconsistent PagedStep");
  for (int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= vocab_size)
      invalid_argument("token id ", tokens[t], " is outside the model's vocabulary (size ", vocab_size, ")");
    SW_CHECK(slots[t] >= 0 && slots[t] < num_slots, "PagedStep slot ", slots[t], " outside the pool of ", num_slots);
  }
  for (int64_t i = 0; i < s; ++i)
    SW_CHECK(cu_q[i + 1] > cu_q[i] && seq_lens[i] >= cu_q[i + 1] - cu_q[i] && seq_lens[i] <= max_blocks * block_size,
             "PagedStep sequence ", i, ": ", cu_q[i + 1] - cu_q[i], " new of ", seq_lens[i], " tokens");
  for (int32_t b : block_tables) SW_CHECK(b >= 0 && b < num_blocks, "PagedStep block ", b, " outside the pool");
  for (size_t r = 0; r < logit_rows.size(); ++r)
    SW_CHECK(logit_rows[r] >= 0 && logit_rows[r] < n && (r == 0 || logit_rows[r] > logit_rows[r - 1]),
             "PagedStep logit row ", logit_rows[r]);
}

DeviceBatch upload(const PagedStep& step, int64_t block_size, Device device) {
  DeviceBatch d;
  const int64_t n = step.size(), s = step.num_sequences();
  d.tokens = Tensor::from_vector(step.tokens, {n}).to(device);
  d.positions = Tensor::from_vector(step.positions, {n}).to(device);
  d.slots = Tensor::from_vector(step.slots, {n}).to(device);
  d.paged.cu_q = Tensor::from_vector(step.cu_q, {s + 1}).to(device);
  d.paged.seq_lens = Tensor::from_vector(step.seq_lens, {s}).to(device);
  d.paged.block_tables = Tensor::from_vector(step.block_tables, {s, step.max_blocks}).to(device);
  d.paged.block_size = block_size;
  for (int64_t i = 0; i < s; ++i) {
    d.paged.max_q = std::max<int64_t>(d.paged.max_q, step.cu_q[i + 1] - step.cu_q[i]);
    d.paged.max_k = std::max<int64_t>(d.paged.max_k, step.seq_lens[i]);
  }
  d.size = n;
  return d;
}

}  // namespace stepwise
