// EngineCompletionSource: completions from a ServingEngine in this process. A batch is submitted at once and run
// to completion, so the engine's continuous batching and shared prompt blocks (n samples) do the batching.
#pragma once

#include <string>

#include "eval/completion_source.h"
#include "infer/engine.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace stepwise {

class EngineCompletionSource : public CompletionSource {
 public:
  // All three must outlive the source; the engine's tokenizer must be `tokenizer`.
  EngineCompletionSource(ServingEngine& engine, const Tokenizer& tokenizer, std::string description);
  std::vector<std::vector<Completion>> complete(const std::vector<CompletionRequest>& requests) override;
  std::string describe() const override { return description_; }

 private:
  ServingEngine& engine_;
  const Tokenizer& tokenizer_;
  ChatTemplate chat_;
  std::string description_;
};

}  // namespace stepwise
