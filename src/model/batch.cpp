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

}  // namespace stepwise
