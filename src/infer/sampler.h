// Next-token choice from logits: greedy, or temperature / top-k / top-p (nucleus) sampling with a seeded RNG,
// in Hugging Face's order (temperature, then top-k, then top-p).
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.h"

namespace stepwise {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  int64_t top_k = 0;         // 0: no limit
  float top_p = 1.0f;        // 1: no limit
  uint64_t seed = 0;

  void validate() const;  // INVALID_ARGUMENT naming the bad field
};

// Index of the largest logit (the first on ties).
int32_t argmax(const float* logits, int64_t n);
int32_t sample_token(const std::vector<float>& logits, const SamplingParams& params, Rng& rng);

}  // namespace stepwise
