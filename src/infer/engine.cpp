// ServingEngine: requests in, steps run, tokens sampled and delivered (engine.h).
#include "infer/engine.h"

#include <algorithm>
#include <deque>
#include <exception>
#include <utility>

#include <glog/logging.h>

#include "core/memory.h"
#include "core/status.h"
#include "distributed/tensor_parallel.h"

namespace stepwise {

const char* const kThinkingEarlyStopText =
    "\n\nConsidering the limited time by the user, I have to give the solution based on the thinking directly now.\n";

namespace {
constexpr int64_t kMaxSamples = 128;
constexpr int64_t kCpuDefaultPoolMb = 512;
}  // namespace

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone: return "";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "?";
}

struct ServingEngine::Request {
  uint64_t id = 0;
  GenerationRequest spec;
  ChunkSink sink;
  std::vector<uint64_t> samples;  // sequence ids, by index; sample 0 first, the others once its prompt is computed
  bool forked = false;
  int64_t live = 0;  // samples not finished (counting those not forked yet)
};

struct ServingEngine::Sample {
  uint64_t request = 0, seq = 0;
  int64_t index = 0;
  Rng rng;
  std::unique_ptr<OutputTextStream> text;
  std::vector<int32_t> output;
  int64_t reasoning_tokens = 0;
  bool budget_spent = false;
  std::deque<int32_t> forced;  // tokens chosen without sampling (the thinking budget's end of thinking)
};

ServingEngine::ServingEngine(Qwen3Model& model, const Tokenizer* tokenizer, const EngineOptions& options)
    : model_(model), tokenizer_(tokenizer), options_(options) {
  if (options.block_size < 1 || options.block_size > 1024)
    invalid_argument("block_size must be in [1, 1024] tokens, got ", options.block_size);
  if (options.kv_cache_blocks < 0)
    invalid_argument("kv_cache_blocks must be >= 0 (0: from kv_cache_mb), got ", options.kv_cache_blocks);
  if (options.kv_cache_mb < 0) invalid_argument("kv_cache_mb must be >= 0 (0: automatic), got ", options.kv_cache_mb);
  if (!(options.kv_cache_fraction > 0 && options.kv_cache_fraction <= 1))
    invalid_argument("kv_cache_fraction must be in (0, 1], got ", options.kv_cache_fraction);
  if (options.max_tokens_per_step < 1) invalid_argument("max_tokens_per_step must be >= 1");
  if (options.max_sequences < 1) invalid_argument("max_sequences must be >= 1");
  if (tokenizer) think_ = find_think_tokens(*tokenizer);
  if (model.config().eos_token_id >= 0) eos_ids_.push_back(static_cast<int32_t>(model.config().eos_token_id));
  if (tokenizer && tokenizer->eos_id() && !std::count(eos_ids_.begin(), eos_ids_.end(), *tokenizer->eos_id()))
    eos_ids_.push_back(*tokenizer->eos_id());

  // The pool: rank 0 decides its size and the group follows, so that block ids mean the same on every rank.
  const Device device = model.options().device;
  const int64_t block_bytes = PagedKvCache::bytes_per_block(model.dims(), options.block_size,
                                                            model.options().compute_dtype);
  const double budget = options.kv_cache_mb > 0 ? static_cast<double>(options.kv_cache_mb) * (1 << 20)
                        : device == Device::kCUDA ? options.kv_cache_fraction * static_cast<double>(cuda_free_bytes())
                                                  : static_cast<double>(kCpuDefaultPoolMb) * (1 << 20);
  // No more than every sequence at the full context could use.
  const int64_t most = options.max_sequences * blocks_for(model.config().max_position_embeddings, options.block_size);
  const int64_t planned = options.kv_cache_blocks > 0
                              ? options.kv_cache_blocks
                              : std::min<int64_t>(static_cast<int64_t>(budget / static_cast<double>(block_bytes)), most);
  std::vector<int32_t> blocks{static_cast<int32_t>(std::min<int64_t>(planned, INT32_MAX / 2))};
  broadcast_step_plan(model.tp(), blocks);
  if (blocks[0] < 1)
    invalid_argument("the KV cache of ", budget / (1 << 20), " MB holds no block of ", options.block_size,
                     " tokens (", block_bytes, " bytes); raise --kv-cache-mb");
  cache_ = model.new_paged_kv_cache(blocks[0], options.block_size);
  SchedulerOptions so;
  so.num_blocks = blocks[0];
  so.block_size = options.block_size;
  so.max_tokens_per_step = options.max_tokens_per_step;
  so.max_sequences = options.max_sequences;
  so.max_prefill_chunk = options.max_prefill_chunk;
  scheduler_ = std::make_unique<Scheduler>(so);
  publish_stats();
}

ServingEngine::~ServingEngine() = default;

void ServingEngine::validate(const GenerationRequest& r) const {
  const Qwen3Config& c = model_.config();
  if (r.prompt.empty()) invalid_argument("prompt: empty; give at least one token");
  for (size_t i = 0; i < r.prompt.size(); ++i)
    if (r.prompt[i] < 0 || r.prompt[i] >= c.vocab_size)
      invalid_argument("prompt_ids[", i, "]: ", r.prompt[i], " is outside the model's vocabulary [0, ", c.vocab_size,
                       ")");
  if (r.max_tokens < 1) invalid_argument("max_tokens: must be >= 1, got ", r.max_tokens);
  const int64_t total = static_cast<int64_t>(r.prompt.size()) + r.max_tokens;
  if (total > c.max_position_embeddings)
    invalid_argument("max_tokens: the prompt (", r.prompt.size(), " tokens) + max_tokens (", r.max_tokens,
                     ") exceeds the model's context length (max_position_embeddings = ", c.max_position_embeddings,
                     "); shorten the prompt or ask for fewer tokens");
  if (r.n < 1 || r.n > kMaxSamples) invalid_argument("n: must be in [1, ", kMaxSamples, "], got ", r.n);
  r.sampling.validate();
  for (size_t i = 0; i < r.stop_token_ids.size(); ++i)
    if (r.stop_token_ids[i] < 0 || r.stop_token_ids[i] >= c.vocab_size)
      invalid_argument("stop_token_ids[", i, "]: ", r.stop_token_ids[i], " is outside the vocabulary");
  for (size_t i = 0; i < r.stop.size(); ++i)
    if (r.stop[i].empty()) invalid_argument("stop[", i, "]: empty stop string");
  if (r.thinking_budget < -1) invalid_argument("thinking_budget: must be >= 0 (or -1: unlimited), got ",
                                               r.thinking_budget);
  const bool needs_text = !r.stop.empty() || r.split_reasoning || r.thinking_budget >= 0;
  if (needs_text && !tokenizer_)
    invalid_argument(!r.stop.empty() ? "stop" : r.split_reasoning ? "split_reasoning" : "thinking_budget",
                     ": needs the model's tokenizer, and this engine has none (give the model folder's tokenizer)");
  if ((r.split_reasoning || r.thinking_budget >= 0) && !think_)
    invalid_argument(r.split_reasoning ? "split_reasoning" : "thinking_budget", ": the tokenizer (",
                     tokenizer_->source(), ") has no <think> and </think> tokens");
  const int64_t blocks = blocks_for(total, options_.block_size);
  if (blocks > scheduler_->pool().num_blocks())
    fail(StatusCode::kResourceExhausted, "the request needs ", blocks, " KV blocks of ", options_.block_size,
         " tokens (prompt + max_tokens = ", total, ") but the whole cache holds ", scheduler_->pool().num_blocks(),
         "; raise --kv-cache-mb or lower max_tokens");
}

uint64_t ServingEngine::submit(GenerationRequest request, ChunkSink sink) {
  validate(request);
  SW_CHECK(sink != nullptr, "ServingEngine::submit without a sink");
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  const uint64_t id = ++submitted_;
  inbox_.push_back({id, {std::move(request), std::move(sink)}});
  live_.insert(id);
  work_.notify_one();
  return id;
}

void ServingEngine::cancel(uint64_t request_id) {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  cancels_.push_back(request_id);
  work_.notify_one();
}

bool ServingEngine::idle() const {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  return inbox_.empty() && cancels_.empty() && live_.empty();
}

ServingEngine::Sample& ServingEngine::new_sample(Request& r, int64_t index) {
  auto s = std::make_unique<Sample>();
  s->request = r.id;
  s->seq = next_seq_++;
  s->index = index;
  s->rng = Rng(r.spec.sampling.seed + static_cast<uint64_t>(index));
  if (tokenizer_) {
    OutputTextOptions to;
    to.split_reasoning = r.spec.split_reasoning;
    to.starts_in_reasoning = r.spec.prompt_opens_reasoning;
    to.stop = r.spec.stop;
    s->text = std::make_unique<OutputTextStream>(*tokenizer_, to);
  }
  Sample& sample = *s;
  r.samples.push_back(s->seq);
  samples_.emplace(s->seq, std::move(s));
  force_end_of_thinking_if_spent(sample);  // a budget of 0 in a prompt that opened the think block
  return sample;
}

void ServingEngine::take_inbox() {
  std::vector<std::pair<uint64_t, std::pair<GenerationRequest, ChunkSink>>> inbox;
  std::vector<uint64_t> cancels;
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox.swap(inbox_);
    cancels.swap(cancels_);
  }
  for (auto& [id, item] : inbox) {
    auto r = std::make_unique<Request>();
    r->id = id;
    r->spec = std::move(item.first);
    r->sink = std::move(item.second);
    r->live = r->spec.n;
    Request& req = *r;
    requests_.emplace(id, std::move(r));
    Sample& s = new_sample(req, 0);
    scheduler_->add(s.seq, req.spec.priority, id, req.spec.prompt);
  }
  for (uint64_t id : cancels) {
    auto it = requests_.find(id);
    if (it == requests_.end()) continue;
    Request& r = *it->second;
    // Samples not forked yet end too (they have no sequence).
    const int64_t unforked = r.forked ? 0 : r.spec.n - 1;
    for (int64_t i = 0; i < unforked; ++i) {
      GenerationChunk c;
      c.request_id = r.id;
      c.index = static_cast<int64_t>(r.samples.size()) + i;
      c.finish = FinishReason::kCancelled;
      c.prompt_tokens = static_cast<int64_t>(r.spec.prompt.size());
      r.sink(c);
      --r.live;
    }
    r.forked = true;
    const std::vector<uint64_t> seqs = r.samples;
    for (uint64_t seq : seqs) {
      auto s = samples_.find(seq);
      if (s == samples_.end()) continue;
      GenerationChunk c;
      finish(*s->second, FinishReason::kCancelled, c);
    }
  }
}

ServingEngine::StepLogits ServingEngine::execute(const StepPlan& plan, const std::vector<bool>& full_rows) {
  for (const auto& [from, to] : plan.block_copies) cache_.copy_block(from, to);
  const Tensor local = model_.forward_paged(plan.step, cache_);
  StepLogits out;
  const int64_t rows = static_cast<int64_t>(plan.step.logit_rows.size()), vocab = model_.config().vocab_size;
  if (rows == 0) return out;
  out.rows.resize(static_cast<size_t>(rows));
  if (model_.tp().size() > 1) {
    const std::vector<float> all = gather_vocab_parallel_logits(model_.tp(), local, vocab);
    for (int64_t r = 0; r < rows; ++r) out.rows[r].assign(all.begin() + r * vocab, all.begin() + (r + 1) * vocab);
    return out;
  }
  if (std::find(full_rows.begin(), full_rows.end(), false) != full_rows.end())  // a row the argmax alone decides
    out.argmax = argmax_rows(local, vocab);
  for (int64_t r = 0; r < rows; ++r)
    if (full_rows[static_cast<size_t>(r)]) {
      out.rows[r] = local.rows(r, r + 1).to_f32_vector();
      out.rows[r].resize(static_cast<size_t>(vocab));  // a padded head's tail is never a token
    }
  return out;
}

std::vector<bool> ServingEngine::rows_needing_logits(const Scheduler::Schedule& schedule) const {
  std::vector<bool> full;
  for (const Scheduler::Work& w : schedule.work)
    if (w.samples)
      full.push_back(!requests_.at(samples_.at(w.id)->request)->spec.sampling.argmax_only());
  return full;
}

bool ServingEngine::step() {
  const bool ran = run_step();
  publish_stats();
  return ran;
}

bool ServingEngine::run_step() {
  take_inbox();
  if (scheduler_->num_running() + scheduler_->num_waiting() == 0) return false;
  const Scheduler::Schedule schedule = scheduler_->schedule();
  SW_CHECK(!schedule.empty(), "the scheduler found nothing to run with ", scheduler_->num_waiting(),
           " sequences waiting and ", scheduler_->pool().num_free(), " free blocks");
  StepPlan plan;
  plan.block_copies = schedule.block_copies;
  plan.step = scheduler_->make_step(schedule);
  StepLogits logits;
  try {
    if (model_.tp().size() > 1) {
      std::vector<int32_t> words = encode_step_plan(plan);
      broadcast_step_plan(model_.tp(), words);
    }
    logits = execute(plan, rows_needing_logits(schedule));
  } catch (const std::exception& e) {
    fail_all(e.what());
    throw;
  }
  ++steps_;
  sample_all(schedule, logits);
  return true;
}

void ServingEngine::serve(const std::atomic<bool>& stop, std::chrono::milliseconds idle_tick) {
  while (true) {
    bool ran = false;
    try {
      ran = step();
    } catch (const std::exception& e) {
      if (model_.tp().size() > 1) throw;  // the group may be out of lock-step: end it (the job's failure path)
      LOG(ERROR) << "a serving step failed; its requests end with an error: " << e.what();
      fail_all(e.what());
      publish_stats();
      continue;
    }
    if (ran) continue;
    if (stop && idle()) break;
    bool woken;
    {
      std::unique_lock<std::mutex> lock(inbox_mutex_);
      woken = work_.wait_for(lock, idle_tick, [&] { return !inbox_.empty() || !cancels_.empty() || stop; });
    }
    if (!woken) keep_peers_alive();
  }
  shutdown_peers();
}

std::vector<uint64_t> ServingEngine::active_requests() const {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  return std::vector<uint64_t>(live_.begin(), live_.end());
}

void ServingEngine::run_until_idle() {
  while (step() || !idle()) {
  }
}

void ServingEngine::sample_all(const Scheduler::Schedule& schedule, const StepLogits& logits) {
  struct Choice {
    Sample* sample;
    size_t row;
    std::optional<int32_t> forced;
    SampledToken token;
  };
  std::vector<Choice> choices;
  size_t next_row = 0;
  for (const Scheduler::Work& w : schedule.work) {
    if (!w.samples) continue;
    const size_t row = next_row++;
    Sample& first = *samples_.at(w.id);
    Request& r = *requests_.at(first.request);
    choices.push_back({&first, row, {}, {}});
    if (!r.forked) {  // the prompt is computed: the other samples start from its blocks and its logits
      r.forked = true;
      for (int64_t i = 1; i < r.spec.n; ++i) {
        Sample& s = new_sample(r, i);
        scheduler_->fork(w.id, s.seq);
        choices.push_back({&s, row, {}, {}});
      }
    }
  }
  for (Choice& c : choices)
    if (!c.sample->forced.empty()) {
      c.forced = c.sample->forced.front();
      c.sample->forced.pop_front();
    }
  // The choices are independent (each sample has its own generator) and cost O(vocab) each: in parallel.
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t i = 0; i < choices.size(); ++i) {
    Choice& c = choices[i];
    const GenerationRequest& spec = requests_.at(c.sample->request)->spec;
    try {
      const std::vector<float>& row = logits.rows[c.row];
      if (row.empty())  // argmax_only: the device chose
        c.token.token = c.forced ? *c.forced : logits.argmax[c.row];
      else
        c.token = choose_next_token(row, spec.sampling, spec.prompt, c.sample->output, c.sample->rng, c.forced);
    } catch (...) {
#pragma omp critical
      error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  for (Choice& c : choices) deliver(*c.sample, c.token);
}

void ServingEngine::deliver(Sample& s, const SampledToken& token) {
  const Request& r = *requests_.at(s.request);
  const GenerationRequest& spec = r.spec;
  s.output.push_back(token.token);
  GenerationChunk c;
  c.token_ids = {token.token};
  if (spec.sampling.logprobs > 0) c.logprobs = {token};
  if (s.text) {
    const bool was_reasoning = s.text->in_reasoning();
    TextDelta d = s.text->push(token.token);
    c.text = std::move(d.text);
    c.reasoning_text = std::move(d.reasoning_text);
    if (d.stopped) return finish(s, FinishReason::kStop, std::move(c));
    if (was_reasoning && s.text->in_reasoning()) ++s.reasoning_tokens;  // the <think> tag itself is not counted
    force_end_of_thinking_if_spent(s);
  }
  const auto is = [&](const std::vector<int32_t>& ids) {
    return std::find(ids.begin(), ids.end(), token.token) != ids.end();
  };
  if (is(spec.stop_token_ids) || (!spec.ignore_eos && is(eos_ids_))) return finish(s, FinishReason::kStop, std::move(c));
  if (static_cast<int64_t>(s.output.size()) >= spec.max_tokens) return finish(s, FinishReason::kLength, std::move(c));
  scheduler_->append_token(s.seq, token.token);
  c.request_id = r.id;
  c.index = s.index;
  r.sink(c);
}

void ServingEngine::force_end_of_thinking_if_spent(Sample& s) {
  const GenerationRequest& spec = requests_.at(s.request)->spec;
  if (spec.thinking_budget < 0 || s.budget_spent || !s.text || !s.text->in_reasoning() ||
      s.reasoning_tokens < spec.thinking_budget)
    return;
  s.budget_spent = true;
  for (int32_t id : tokenizer_->encode(spec.thinking_early_stop)) s.forced.push_back(id);
  s.forced.push_back(think_->end);
}

void ServingEngine::finish(Sample& s, FinishReason reason, GenerationChunk c, const std::string& error) {
  Request& r = *requests_.at(s.request);
  if (s.text) {
    const TextDelta rest = s.text->finish();
    c.text += rest.text;
    c.reasoning_text += rest.reasoning_text;
  }
  c.request_id = r.id;
  c.index = s.index;
  c.finish = reason;
  c.error = error;
  c.prompt_tokens = static_cast<int64_t>(r.spec.prompt.size());
  c.completion_tokens = static_cast<int64_t>(s.output.size());
  scheduler_->remove(s.seq);
  const uint64_t seq = s.seq;
  samples_.erase(seq);  // s is gone from here on
  r.sink(c);
  if (--r.live == 0) {
    for (uint64_t other : r.samples) samples_.erase(other);
    const uint64_t id = r.id;
    requests_.erase(id);
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    live_.erase(id);
  }
}

void ServingEngine::fail_all(const std::string& error) {
  std::vector<uint64_t> seqs;
  for (const auto& [seq, sample] : samples_) seqs.push_back(seq);
  for (uint64_t seq : seqs)
    if (samples_.count(seq)) finish(*samples_.at(seq), FinishReason::kError, {}, error);
}

void ServingEngine::keep_peers_alive() {
  if (model_.tp().size() == 1) return;
  std::vector<int32_t> words = encode_step_plan({StepPlan::Kind::kIdle, {}, {}});
  broadcast_step_plan(model_.tp(), words);
}

void ServingEngine::shutdown_peers() {
  if (model_.tp().size() == 1) return;
  std::vector<int32_t> words = encode_step_plan({StepPlan::Kind::kShutdown, {}, {}});
  broadcast_step_plan(model_.tp(), words);
}

void ServingEngine::run_peer() {
  SW_CHECK(model_.tp().rank() != 0, "run_peer on TP rank 0, which schedules");
  while (true) {
    std::vector<int32_t> words;
    broadcast_step_plan(model_.tp(), words);
    const StepPlan plan = decode_step_plan(words);
    if (plan.kind == StepPlan::Kind::kShutdown) return;
    if (plan.kind == StepPlan::Kind::kStep) execute(plan, {});
  }
}

EngineStats ServingEngine::stats() const {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  return published_;
}

void ServingEngine::publish_stats() {
  EngineStats s;
  s.num_blocks = scheduler_->pool().num_blocks();
  s.free_blocks = scheduler_->pool().num_free();
  s.block_size = options_.block_size;
  s.running = scheduler_->num_running();
  s.waiting = scheduler_->num_waiting();
  s.requests = static_cast<int64_t>(requests_.size());
  s.steps = steps_;
  s.preemptions = scheduler_->num_preemptions();
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  published_ = s;
}

GenerationRequest chat_request(const ChatTemplate& chat, const Tokenizer& tokenizer,
                               const std::vector<ChatMessage>& messages, bool enable_thinking,
                               GenerationRequest base) {
  ChatOptions options;
  options.add_generation_prompt = true;
  options.enable_thinking = enable_thinking && base.thinking_budget != 0;
  base.prompt = chat.encode(messages, options).ids;
  base.split_reasoning = find_think_tokens(tokenizer).has_value();
  if (const auto im_end = tokenizer.token_to_id("<|im_end|>"))
    if (!std::count(base.stop_token_ids.begin(), base.stop_token_ids.end(), *im_end))
      base.stop_token_ids.push_back(*im_end);
  return base;
}

}  // namespace stepwise
