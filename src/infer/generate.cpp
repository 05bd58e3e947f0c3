// Single-sequence generation loop.
#include "infer/generate.h"

#include <algorithm>
#include <memory>

#include "core/status.h"
#include "distributed/tensor_parallel.h"
#include "model/greedy_decoder.h"

namespace stepwise {

std::vector<int32_t> generate(Qwen3Model& model, const GenerateRequest& req,
                              const std::function<void(int32_t)>& on_token) {
  req.sampling.validate();
  if (req.prompt.empty()) invalid_argument("the prompt is empty; give at least one token id");
  if (req.max_new_tokens < 0) invalid_argument("max_new_tokens must be >= 0, got ", req.max_new_tokens);
  if (req.max_new_tokens == 0) return {};
  KvCache cache = model.new_kv_cache(static_cast<int64_t>(req.prompt.size()) + req.max_new_tokens);
  const int64_t vocab = model.config().vocab_size;
  // Greedy in one process: the device chooses each token and replays the recorded step (a tensor-parallel head is
  // split over the ranks, and its steps have collectives).
  std::unique_ptr<GreedyDecoder> greedy;
  if (req.sampling.greedy() && model.tp().size() == 1)
    greedy = std::make_unique<GreedyDecoder>(model, cache, req.record_decode_steps);
  Rng rng(req.sampling.seed);
  std::vector<int32_t> out;
  auto next_token = [&]() -> int32_t {
    if (greedy) return out.empty() ? greedy->start(req.prompt) : greedy->next();
    const Tensor logits = model.forward_step(out.empty() ? req.prompt : std::vector<int32_t>{out.back()}, cache);
    return sample_token(gather_vocab_parallel_logits(model.tp(), logits, vocab), req.sampling, rng);
  };
  while (true) {
    const int32_t next = next_token();
    out.push_back(next);
    if (on_token) on_token(next);
    const bool stop = std::find(req.stop_tokens.begin(), req.stop_tokens.end(), next) != req.stop_tokens.end();
    if (stop || static_cast<int64_t>(out.size()) == req.max_new_tokens) break;
  }
  return out;
}

}  // namespace stepwise
