// Completions through the serving engine: chat requests in, streamed chunks gathered per sample.
#include "eval/engine_completion_source.h"

#include "core/status.h"

namespace stepwise {

EngineCompletionSource::EngineCompletionSource(ServingEngine& engine, const Tokenizer& tokenizer,
                                               std::string description)
    : engine_(engine), tokenizer_(tokenizer), chat_(tokenizer), description_(std::move(description)) {}

std::vector<std::vector<Completion>> EngineCompletionSource::complete(const std::vector<CompletionRequest>& requests) {
  std::vector<CompletionCollector> collectors;
  for (const CompletionRequest& r : requests) collectors.emplace_back(r.n);
  for (size_t i = 0; i < requests.size(); ++i) {
    const CompletionRequest& r = requests[i];
    GenerationRequest base;
    base.max_tokens = r.max_tokens;
    base.n = r.n;
    base.sampling.temperature = static_cast<float>(r.temperature);
    base.sampling.top_p = static_cast<float>(r.top_p);
    base.sampling.seed = r.seed;
    base.sampling.logprobs = r.logprobs ? 1 : 0;
    base.thinking_budget = r.thinking_budget;
    base.thinking_early_stop = kThinkingEarlyStopText;
    GenerationRequest request = chat_request(chat_, tokenizer_, {ChatMessage{"user", r.user_message, std::nullopt, {}}},
                                             r.enable_thinking, std::move(base));
    // Chunks arrive on this thread (run_until_idle below), so no locking.
    engine_.submit(std::move(request), [&collectors, i](const GenerationChunk& c) { collectors[i].add(c); });
  }
  engine_.run_until_idle();
  std::vector<std::vector<Completion>> out;
  for (size_t i = 0; i < collectors.size(); ++i) {
    if (!collectors[i].error().empty())
      fail(StatusCode::kInternal, description_, ": generation failed: request ", i, " ", collectors[i].error());
    out.push_back(collectors[i].take());
  }
  return out;
}

}  // namespace stepwise
