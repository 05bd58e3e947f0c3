// ServingEngine: answers many generation requests at once over one model (any TP size): continuous batching over a
// paged KV cache (scheduler.h), per-request sampling (sampler.h), streamed text split into reasoning and answer
// (output_text.h), a thinking budget, n samples sharing their prompt's blocks, cancellation. The gRPC server,
// `stepwise generate` and the benchmarks put it behind their interfaces.
//
// Threads: submit() and cancel() may be called from any thread; step() / run_until_idle() run on one engine thread,
// which also calls every ChunkSink. Tensor parallelism: the engine on TP rank 0 schedules and samples; each step's
// plan is broadcast to the other ranks, which run run_peer() and compute the same step in lock-step until rank 0
// calls shutdown_peers().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "infer/output_text.h"
#include "infer/sampler.h"
#include "infer/scheduler.h"
#include "infer/step_plan.h"
#include "model/qwen3.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace stepwise {

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };
const char* finish_reason_name(FinishReason reason);  // "", "stop", "length", "cancelled", "error"

// Qwen's documented early-stopping text, written before </think> when a thinking budget runs out.
extern const char* const kThinkingEarlyStopText;

struct GenerationRequest {
  std::vector<int32_t> prompt;  // token ids
  int64_t max_tokens = 16;      // new tokens per sample, at most; prompt + max_tokens <= the context length
  SamplingParams sampling;
  int64_t n = 1;  // samples (sample i draws from seed + i's generator; they share the prompt's KV blocks)
  std::vector<std::string> stop;         // stop strings (text features need the engine's tokenizer)
  std::vector<int32_t> stop_token_ids;   // generation stops after these (the token is in token_ids, not in text)
  bool ignore_eos = false;               // the model's and tokenizer's end-of-sequence ids do not stop it
  bool split_reasoning = false;          // stream <think>…</think> as reasoning_text (Qwen3 chat)
  bool prompt_opens_reasoning = false;   // the prompt ends inside a think block
  int64_t thinking_budget = -1;          // tokens inside <think> before </think> is forced; -1: unlimited
  std::string thinking_early_stop;       // text forced before </think> when the budget is spent (may be empty)
  int64_t priority = 0;                  // lower is served first; first come, first served within a priority
};

struct GenerationChunk {
  uint64_t request_id = 0;
  int64_t index = 0;  // which of the n samples
  std::vector<int32_t> token_ids;
  std::string text, reasoning_text;
  std::vector<SampledToken> logprobs;  // one per token when the request asked for logprobs
  FinishReason finish = FinishReason::kNone;  // set on the sample's last chunk
  std::string error;                          // with kError
  int64_t prompt_tokens = 0, completion_tokens = 0;  // usage, on the last chunk
};
using ChunkSink = std::function<void(const GenerationChunk&)>;

struct EngineOptions {
  int64_t kv_cache_mb = 0;          // the pool's size; 0: kv_cache_fraction of free GPU memory, or 512 MB on the CPU
  double kv_cache_fraction = 0.9;
  int64_t kv_cache_blocks = 0;      // the pool's size in blocks, overriding the two above (tests, exact sizing)
  int64_t block_size = 16;          // tokens per KV block
  int64_t max_tokens_per_step = 2048;
  int64_t max_sequences = 256;
  int64_t max_prefill_chunk = 0;    // 0: the step's budget
};

struct EngineStats {
  int64_t num_blocks = 0, free_blocks = 0, block_size = 0;
  int64_t running = 0, waiting = 0, requests = 0;
  int64_t steps = 0, preemptions = 0;
};

class ServingEngine {
 public:
  // `tokenizer` may be null (ids only: no text, stop strings, reasoning split or thinking budget). Both must
  // outlive the engine.
  ServingEngine(Qwen3Model& model, const Tokenizer* tokenizer, const EngineOptions& options);
  ~ServingEngine();

  // Validates the request (INVALID_ARGUMENT naming the field; RESOURCE_EXHAUSTED when one sample could never fit
  // the KV pool) and queues it. Returns its id. Thread-safe.
  uint64_t submit(GenerationRequest request, ChunkSink sink);
  // Ends a request at the next step: every unfinished sample gets a last chunk with kCancelled and its blocks are
  // freed. Unknown or finished ids are ignored. Thread-safe.
  void cancel(uint64_t request_id);

  // TP rank 0: one step (new requests and cancellations taken in, one batch computed, tokens sampled and
  // delivered). False when there was nothing to run.
  bool step();
  void run_until_idle();
  bool idle() const;  // no request queued or running (thread-safe)
  // The engine thread's loop in a server: steps while there is work, else sleeps until submit() or cancel() (at
  // most `idle_tick`, then tells TP peers the group is alive), until `stop` is set and nothing is left; then the
  // peers are shut down. To stop at once, cancel what is in flight first. A step that fails ends the requests in
  // flight with kError and serving goes on (under TP the exception ends the group instead).
  void serve(const std::atomic<bool>& stop, std::chrono::milliseconds idle_tick = std::chrono::milliseconds(500));
  // Request ids submitted and not finished (for cancelling everything at a deadline).
  std::vector<uint64_t> active_requests() const;
  // TP rank 0 while idle: tells the peers that the group is alive (a plan with nothing to run).
  void keep_peers_alive();
  void shutdown_peers();
  // TP ranks other than 0: run rank 0's plans until it shuts down.
  void run_peer();

  // As of the end of the last step (thread-safe).
  EngineStats stats() const;
  const Tokenizer* tokenizer() const { return tokenizer_; }
  Qwen3Model& model() { return model_; }

 private:
  struct Request;
  struct Sample;
  bool run_step();
  void publish_stats();  // the snapshot stats() returns
  void take_inbox();
  Sample& new_sample(Request& r, int64_t index);  // registered under a fresh sequence id
  void validate(const GenerationRequest& r) const;
  // A step's logits where tokens are chosen: each row's argmax, taken on the device, and on the host the whole rows
  // that need more (sampling, penalties, log-probabilities). With TP > 1 every row comes whole: all ranks take
  // part in the gather, and only rank 0 knows the requests.
  struct StepLogits {
    std::vector<int32_t> argmax;           // per logit row (one process; empty when every row comes whole)
    std::vector<std::vector<float>> rows;  // per logit row: [vocab], or empty where the argmax is all it needs
  };
  // Runs a plan on this rank; `full_rows` flags the logit rows wanted whole (rank 0 of one process).
  StepLogits execute(const StepPlan& plan, const std::vector<bool>& full_rows);
  // Whether each logit row of the schedule needs its whole row (its request is not argmax_only).
  std::vector<bool> rows_needing_logits(const Scheduler::Schedule& schedule) const;
  // Chooses the next token of every sequence that ends its step (forking a request's other samples at the end of
  // its prompt) and delivers them, in the schedule's order.
  void sample_all(const Scheduler::Schedule& schedule, const StepLogits& logits);
  void deliver(Sample& s, const SampledToken& token);
  // Once a sample has thought for its request's thinking_budget tokens: the early-stop text and </think> next.
  void force_end_of_thinking_if_spent(Sample& s);
  void finish(Sample& s, FinishReason reason, GenerationChunk chunk, const std::string& error = "");
  void fail_all(const std::string& error);

  Qwen3Model& model_;
  const Tokenizer* tokenizer_;
  EngineOptions options_;
  std::optional<ThinkTokens> think_;
  std::vector<int32_t> eos_ids_;
  PagedKvCache cache_;
  std::unique_ptr<Scheduler> scheduler_;
  std::map<uint64_t, std::unique_ptr<Request>> requests_;
  std::map<uint64_t, std::unique_ptr<Sample>> samples_;  // by sequence id
  uint64_t next_seq_ = 1;
  int64_t steps_ = 0;

  mutable std::mutex inbox_mutex_;
  std::condition_variable work_;  // submit() and cancel() wake serve()
  std::set<uint64_t> live_;       // requests submitted and not finished, for other threads
  EngineStats published_;
  std::vector<std::pair<uint64_t, std::pair<GenerationRequest, ChunkSink>>> inbox_;
  std::vector<uint64_t> cancels_;
  std::atomic<uint64_t> submitted_{0};
};

// A Qwen3 chat request: the messages rendered with the chat template (with the generation prompt; thinking off
// when !enable_thinking or thinking_budget == 0, which writes the empty think block), reasoning split on, and
// <|im_end|> as a stop token.
GenerationRequest chat_request(const ChatTemplate& chat, const Tokenizer& tokenizer,
                               const std::vector<ChatMessage>& messages, bool enable_thinking,
                               GenerationRequest base = {});

}  // namespace stepwise
