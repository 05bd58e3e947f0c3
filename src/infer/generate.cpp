// Single-sequence generation loop.
#include "infer/generate.h"

#include <algorithm>

#include "core/status.h"
#include "distributed/tensor_parallel.h"

namespace stepwise {

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
  const int64_t vocab = model.config().vocab_size;
  // Greedy in one process: the device picks the token (a tensor-parallel head is split over the ranks).
  const bool on_device = req.sampling.greedy() && model.tp().size() == 1;
  while (true) {
    const int32_t next = on_device ? argmax_rows(logits, vocab).front()
                                   : sample_token(gather_vocab_parallel_logits(model.tp(), logits, vocab),
                                                  req.sampling, rng);
    out.push_back(next);
    if (on_token) on_token(next);
    const bool stop = std::find(req.stop_tokens.begin(), req.stop_tokens.end(), next) != req.stop_tokens.end();
    if (stop || static_cast<int64_t>(out.size()) == req.max_new_tokens) break;
    logits = model.forward_step({next}, cache);
  }
  return out;
}

}  // namespace stepwise
