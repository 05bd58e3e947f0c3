// Completions through the serving engine: chat requests in, streamed chunks gathered per sample.
#include "eval/engine_completion_source.h"

#include <cmath>

#include "core/status.h"

namespace stepwise {

EngineCompletionSource::EngineCompletionSource(ServingEngine& engine, const Tokenizer& tokenizer,
                                               std::string description)
    : engine_(engine), tokenizer_(tokenizer), chat_(tokenizer), description_(std::move(description)) {}

std::vector<std::vector<Completion>> EngineCompletionSource::complete(const std::vector<CompletionRequest>& requests) {
  std::vector<std::vector<Completion>> out(requests.size());
  std::vector<std::vector<double>> logprob_sums(requests.size());
  std::string error;
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
    out[i].resize(static_cast<size_t>(r.n));
    logprob_sums[i].assign(static_cast<size_t>(r.n), 0.0);
    GenerationRequest request = chat_request(chat_, tokenizer_, {ChatMessage{"user", r.user_message, std::nullopt, {}}},
                                             r.enable_thinking, std::move(base));
    // Chunks arrive on this thread (run_until_idle below), so no locking.
    engine_.submit(std::move(request), [&, i](const GenerationChunk& c) {
      Completion& done = out[i][static_cast<size_t>(c.index)];
      done.reasoning += c.reasoning_text;
      done.text += c.text;
      done.tokens += static_cast<int64_t>(c.token_ids.size());
      for (const SampledToken& t : c.logprobs) logprob_sums[i][static_cast<size_t>(c.index)] += t.logprob;
      if (c.finish == FinishReason::kError && error.empty())
        error = "request " + std::to_string(i) + " sample " + std::to_string(c.index) + ": " + c.error;
      if (c.finish != FinishReason::kNone) done.finish = finish_reason_name(c.finish);
    });
  }
  engine_.run_until_idle();
  if (!error.empty()) fail(StatusCode::kInternal, description_, ": generation failed: ", error);
  for (size_t i = 0; i < out.size(); ++i)
    for (size_t k = 0; k < out[i].size(); ++k)
      if (out[i][k].tokens > 0) out[i][k].mean_logprob = logprob_sums[i][k] / static_cast<double>(out[i][k].tokens);
  return out;
}

}  // namespace stepwise
