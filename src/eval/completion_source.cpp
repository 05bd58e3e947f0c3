// CompletionCollector: chunks -> completions.
#include "eval/completion_source.h"

namespace stepwise {

CompletionCollector::CompletionCollector(int64_t n)
    : completions_(static_cast<size_t>(n)), logprob_sums_(static_cast<size_t>(n), 0.0) {}

void CompletionCollector::add(const GenerationChunk& c) {
  if (c.index < 0 || c.index >= static_cast<int64_t>(completions_.size())) return;
  const size_t k = static_cast<size_t>(c.index);
  Completion& done = completions_[k];
  done.reasoning += c.reasoning_text;
  done.text += c.text;
  done.tokens += static_cast<int64_t>(c.token_ids.size());
  for (const SampledToken& t : c.logprobs) logprob_sums_[k] += t.logprob;
  if (c.finish == FinishReason::kError && error_.empty()) error_ = "sample " + std::to_string(c.index) + ": " + c.error;
  if (c.finish != FinishReason::kNone) done.finish = finish_reason_name(c.finish);
}

std::vector<Completion> CompletionCollector::take() {
  for (size_t k = 0; k < completions_.size(); ++k)
    if (completions_[k].tokens > 0)
      completions_[k].mean_logprob = logprob_sums_[k] / static_cast<double>(completions_[k].tokens);
  return std::move(completions_);
}

}  // namespace stepwise
