// Next-token choice from one sequence's logits, per request: repetition / presence / frequency penalties, then
// temperature (0 = greedy), top-k, top-p (nucleus) and min-p, drawn with the sequence's own seeded RNG, so the same
// seed gives the same tokens whatever else runs in the batch. The log-probabilities reported with a token are the
// model's own (log-softmax of the raw logits, before penalties and temperature): what `stepwise score` prints.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"

namespace stepwise {

constexpr int64_t kMaxLogprobs = 20;  // the most top-N log-probabilities a request may ask for

struct SamplingParams {
  float temperature = 0.0f;         // 0: greedy
  int64_t top_k = 0;                // 0: no limit
  float top_p = 1.0f;               // 1: no limit
  float min_p = 0.0f;               // keep tokens with p >= min_p * p_max; 0: no limit
  float repetition_penalty = 1.0f;  // > 0; 1: none. Divides positive logits (multiplies negative ones) of every
                                    // token seen in the prompt or the output (Hugging Face, vLLM)
  float presence_penalty = 0.0f;    // [-2, 2]: subtracted once from the logit of each token in the output
  float frequency_penalty = 0.0f;   // [-2, 2]: subtracted per occurrence in the output
  uint64_t seed = 0;
  int64_t logprobs = 0;  // report the top-N log-probabilities with each chosen token (0..kMaxLogprobs)

  // INVALID_ARGUMENT naming the field as the API spells it ("temperature", "top_p", ...) and the accepted range.
  void validate() const;
  bool greedy() const { return temperature == 0.0f; }
  // The choice is the raw logits' argmax and nothing else is read from them: the device can make it (argmax_rows).
  bool argmax_only() const {
    return greedy() && logprobs == 0 && repetition_penalty == 1.0f && presence_penalty == 0.0f &&
           frequency_penalty == 0.0f;
  }
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

struct SampledToken {
  int32_t token = 0;
  float logprob = 0.0f;            // the chosen token's, under the raw logits (computed when params.logprobs > 0)
  std::vector<TokenLogprob> top;   // the params.logprobs most likely tokens, most likely first (ties: lower id)
};

// Index of the largest logit (the first on ties).
int32_t argmax(const float* logits, int64_t n);
// The same choice for each row of a step's logits [rows, >= vocab] over its first `vocab` columns, made where the
// logits are: from a GPU one id per row comes back instead of the row (608 KB for Qwen3's vocabulary).
std::vector<int32_t> argmax_rows(const Tensor& logits, int64_t vocab);
// The sampling distribution's draw, without penalties (used where no history applies): the token choose_next_token
// chooses from the same Rng state when no penalty is in force.
int32_t sample_token(const std::vector<float>& logits, const SamplingParams& params, Rng& rng);

// Penalties in place: repetition over prompt and output tokens, presence and frequency over output tokens.
void apply_penalties(std::vector<float>& logits, const SamplingParams& params, const std::vector<int32_t>& prompt,
                     const std::vector<int32_t>& output);

// The whole choice for one sequence: penalties, sampling (one RNG draw when not greedy, none when greedy or
// forced), log-probabilities. `forced` (the thinking budget's end-of-thinking token) is chosen without sampling.
// `params` must have passed validate(); a token id outside the vocabulary is INVALID_ARGUMENT. No shared state:
// several sequences may be chosen on several threads at once.
SampledToken choose_next_token(std::vector<float> logits, const SamplingParams& params,
                               const std::vector<int32_t>& prompt, const std::vector<int32_t>& output, Rng& rng,
                               std::optional<int32_t> forced = std::nullopt);

}  // namespace stepwise
