// CompletionSource: where `stepwise eval run` and `stepwise distill` get completions of chat questions: a model in
// this process through the serving engine (EngineCompletionSource), or a stepwise server over gRPC (the CLI's
// GrpcCompletionSource). Requests go in batches so that a source can run them concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "infer/engine.h"

namespace stepwise {

struct CompletionRequest {
  std::string user_message;  // the one user turn, rendered with the model's chat template
  int64_t n = 1;             // samples; sample i draws from seed + i
  double temperature = 0;    // 0: greedy
  double top_p = 1;
  uint64_t seed = 0;
  int64_t max_tokens = 1024;  // new tokens per sample, reasoning included
  bool enable_thinking = true;
  int64_t thinking_budget = -1;  // tokens inside <think> before </think> is forced (the engine's); -1: unlimited
  bool logprobs = false;         // fill Completion::mean_logprob
};

struct Completion {
  std::string reasoning;    // inside <think>…</think>
  std::string text;         // after </think>: the answer (empty when the budget of tokens ran out while thinking)
  int64_t tokens = 0;       // generated, reasoning included
  double mean_logprob = 0;  // of the chosen tokens (when asked for)
  std::string finish;       // "stop" or "length"
};

// The streamed chunks of one request's n samples, from the engine or from the API (serve::to_generation_chunk),
// gathered into Completions.
class CompletionCollector {
 public:
  explicit CompletionCollector(int64_t n);
  void add(const GenerationChunk& chunk);
  // The first sample's error that ended with kError ("" when none did): "sample I: MESSAGE".
  const std::string& error() const { return error_; }
  // The completions, mean log-probabilities filled in.
  std::vector<Completion> take();

 private:
  std::vector<Completion> completions_;
  std::vector<double> logprob_sums_;
  std::string error_;
};

class CompletionSource {
 public:
  virtual ~CompletionSource() = default;
  // The n completions of every request, in order. Throws a StatusError naming the request when the source fails.
  virtual std::vector<std::vector<Completion>> complete(const std::vector<CompletionRequest>& requests) = 0;
  // "model DIR" or "server ADDR (model NAME)", for reports.
  virtual std::string describe() const = 0;
};

}  // namespace stepwise
