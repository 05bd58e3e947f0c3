// Generation for one sequence with a KV cache: prefill the prompt, then decode token by token.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "infer/sampler.h"
#include "model/qwen3.h"

namespace stepwise {

struct GenerateRequest {
  std::vector<int32_t> prompt;
  int64_t max_new_tokens = 0;
  SamplingParams sampling;
  std::vector<int32_t> stop_tokens;  // generation ends after emitting one of these
  // Greedy decoding in one process runs each step as a recorded graph (model/greedy_decoder.h); false runs its
  // kernels one by one (the benchmark's comparison). Same tokens either way.
  bool record_decode_steps = true;
};

// The new tokens; `on_token` (optional) sees each one as it is chosen (streaming).
std::vector<int32_t> generate(Qwen3Model& model, const GenerateRequest& request,
                              const std::function<void(int32_t)>& on_token = nullptr);

}  // namespace stepwise
