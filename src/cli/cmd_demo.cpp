// `stepwise demo`: the embedded demo. Does writing out intermediate steps let a small model solve arithmetic word
// problems it cannot answer directly? Two Qwen3-architecture models are trained from scratch with the same budget
// (same optimizer steps, same packed rows per step): one on step-by-step traces (reasoning inside <think>, then
// \boxed{answer}), one on the answers alone (an empty think block, as Qwen3's non-thinking mode). Both are then
// asked held-out problems (greedy decoding) and their answers checked exactly. Everything runs through the real
// pipeline: JSONL -> `data prepare` -> packed loader -> the SFT loop with checkpoints -> generation.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/benchmarks.h"
#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "core/status.h"
#include "eval/answer.h"
#include "eval/answer_vote.h"
#include "eval/arithmetic_tasks.h"
#include "infer/engine.h"
#include "infer/generate.h"
#include "io/atomic_file.h"
#include "kernels/cpu/blas_family.h"
#include "tokenizer/byte_tokenizer.h"
#include "train/data_prep.h"
#include "train/loop.h"

namespace stepwise::cli {

namespace {

namespace fs = std::filesystem;

struct DemoSettings {
  std::string out = "runs/demo";
  int64_t train_problems = 8000, test_problems = 200;
  ArithmeticTaskOptions task;
  // The model: Qwen3 architecture, byte vocabulary; heads of 32, half as many KV heads, FFN 3 x hidden.
  int64_t hidden = 96, layers = 4, head_dim = 32;
  // The budget, the same for both runs: optimizer steps of `rows` packed rows of `row_length` tokens.
  int64_t steps = 1800, rows = 2, row_length = 512;
  double lr = 8e-3;
  uint64_t seed = 1;
  int64_t samples = 3;
  // Self-consistency for the step-by-step model: this many sampled answers per held-out problem, majority vote.
  int64_t vote_samples = 8;
  double vote_temperature = 0.7;
  int threads = 0;  // add_threads_flag sets the default
  // The demo compares two runs with each other, not with a reference: f32 sums, about twice as fast on the CPU.
  std::string accumulation = "float32";
};

struct Variant {
  const char* name;  // directory
  const char* label;
  bool steps;        // trained on the worked steps
};
constexpr Variant kVariants[] = {{"cot", "step-by-step", true}, {"direct", "answer-only", false}};

std::vector<ChatMessage> chat_of(const ArithmeticProblem& p, bool with_steps) {
  ChatMessage user{"user", p.question, std::nullopt, {}};
  ChatMessage assistant{"assistant", "\\boxed{" + std::to_string(p.answer) + "}", std::nullopt, {}};
  if (with_steps) assistant.reasoning_content = p.worked_steps();
  return {user, assistant};
}

// The problems as a JSONL file of chat records (the format `stepwise data prepare` reads).
void write_jsonl(const std::string& path, const std::vector<ArithmeticProblem>& problems, bool with_steps) {
  std::string text;
  for (const ArithmeticProblem& p : problems) {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    for (const ChatMessage& m : chat_of(p, with_steps)) {
      nlohmann::ordered_json j = {{"role", m.role}, {"content", m.content}};
      if (m.reasoning_content) j["reasoning_content"] = *m.reasoning_content;
      messages.push_back(j);
    }
    text += nlohmann::ordered_json{{"messages", messages}}.dump() + "\n";
  }
  write_file_atomic(path, text);
}

Qwen3Config demo_model_config(const DemoSettings& s) {
  Qwen3Config c;
  c.vocab_size = ByteTokenizer::kVocabSize;
  c.hidden_size = s.hidden;
  c.intermediate_size = 3 * s.hidden;
  c.num_layers = s.layers;
  c.num_heads = s.hidden / s.head_dim;
  c.num_kv_heads = std::max<int64_t>(1, c.num_heads / 2);
  c.head_dim = s.head_dim;
  c.max_position_embeddings = s.row_length;
  c.rope_theta = 10000;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = true;
  c.eos_token_id = ByteTokenizer::kImEnd;
  return c;
}

TrainConfig demo_train_config(const DemoSettings& s, const Variant& v) {
  TrainConfig c;
  c.source = "stepwise demo";
  c.run.output_dir = s.out + "/" + v.name;
  c.run.seed = s.seed;
  c.model.config = "hf:" + s.out + "/model";
  c.data.train = s.out + "/data/" + v.name + "-train";
  c.data.eval = s.out + "/data/" + v.name + "-test";
  c.batch.micro_batch_rows = s.rows;
  c.batch.row_length = s.row_length;
  c.optimizer.schedule.lr = s.lr;
  c.optimizer.schedule.min_lr = s.lr / 10;
  c.optimizer.schedule.warmup_steps = std::max<int64_t>(1, s.steps / 20);
  c.optimizer.adamw.weight_decay = 0.01f;
  c.optimizer.adamw.beta2 = 0.99f;
  c.train.steps = s.steps;
  c.train.log_every = std::max<int64_t>(1, s.steps / 10);
  c.eval.every = std::max<int64_t>(1, s.steps / 5);
  c.eval.max_batches = 4;
  c.checkpoint.keep_last = 1;
  c.run.cpu_accumulation =
      s.accumulation == "float64" ? kernels::CpuAccumulation::kFloat64 : kernels::CpuAccumulation::kFloat32;
  return c;
}

struct Graded {
  std::string completion;
  std::optional<std::string> answer;
  bool correct = false;
};

// Greedy decoding of every problem, answers checked exactly.
std::vector<Graded> solve(Qwen3Model& model, const ByteTokenizer& tok, const std::vector<ArithmeticProblem>& problems,
                          int64_t max_new_tokens) {
  std::vector<Graded> out;
  for (const ArithmeticProblem& p : problems) {
    GenerateRequest req;
    req.prompt = tok.encode_chat({ChatMessage{"user", p.question, std::nullopt, {}}}, true).ids;
    req.max_new_tokens = max_new_tokens;
    req.stop_tokens = {ByteTokenizer::kImEnd};
    std::vector<int32_t> ids = generate(model, req);
    if (!ids.empty() && ids.back() == ByteTokenizer::kImEnd) ids.pop_back();
    Graded g;
    g.completion = tok.decode(ids);
    g.answer = extract_answer(g.completion);
    g.correct = g.answer && answers_match(*g.answer, std::to_string(p.answer));
    out.push_back(std::move(g));
  }
  return out;
}

struct VoteAccuracy {
  double majority = 0, pass_at_k = 0, mean_sample = 0;  // fractions of the problems (mean_sample: per sample)
};

// K samples of every problem through the serving engine (batched, the samples sharing their prompt's KV blocks),
// each answer extracted, the majority vote over equivalent answers checked.
VoteAccuracy vote_accuracy(Qwen3Model& model, const ByteTokenizer& tok, const std::vector<ArithmeticProblem>& problems,
                           int64_t k, double temperature, uint64_t seed, int64_t max_new_tokens) {
  EngineOptions options;
  options.kv_cache_mb = 64;
  ServingEngine engine(model, nullptr, options);
  std::vector<std::vector<std::vector<int32_t>>> ids(problems.size(), std::vector<std::vector<int32_t>>(k));
  for (size_t i = 0; i < problems.size(); ++i) {
    GenerationRequest r;
    r.prompt = tok.encode_chat({ChatMessage{"user", problems[i].question, std::nullopt, {}}}, true).ids;
    r.max_tokens = max_new_tokens;
    r.n = k;
    r.sampling.temperature = static_cast<float>(temperature);
    r.sampling.seed = seed + i * static_cast<uint64_t>(k);
    r.stop_token_ids = {ByteTokenizer::kImEnd};
    engine.submit(std::move(r), [&ids, i](const GenerationChunk& c) {
      auto& out = ids[i][static_cast<size_t>(c.index)];
      out.insert(out.end(), c.token_ids.begin(), c.token_ids.end());
    });
  }
  engine.run_until_idle();
  VoteAccuracy acc;
  for (size_t i = 0; i < problems.size(); ++i) {
    const std::string reference = std::to_string(problems[i].answer);
    std::vector<std::optional<std::string>> answers;
    bool any = false;
    for (std::vector<int32_t>& sample : ids[i]) {
      if (!sample.empty() && sample.back() == ByteTokenizer::kImEnd) sample.pop_back();
      answers.push_back(extract_answer(tok.decode(sample)));
      const bool right = answers.back() && answers_match(*answers.back(), reference);
      any |= right;
      acc.mean_sample += right;
    }
    const AnswerVote vote = majority_vote(answers);
    acc.majority += vote.winner >= 0 && answers_match(*answers[static_cast<size_t>(vote.winner)], reference);
    acc.pass_at_k += any;
  }
  const double n = static_cast<double>(problems.size());
  acc.majority /= n, acc.pass_at_k /= n, acc.mean_sample /= n * static_cast<double>(k);
  return acc;
}

std::string one_line(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '\n' ? std::string(" | ") : std::string(1, c);
  return out;
}

struct VariantResult {
  TrainResult train;
  std::vector<Graded> graded;
  double accuracy = 0;
  double wall_s = 0;              // training, its evaluations and checkpoints, and answering the test problems
  double tokens_per_problem = 0;  // of the prepared training set
};

int run_demo(const DemoSettings& s) {
  const int threads = s.threads;
  omp_set_num_threads(threads);
  const auto t_start = std::chrono::steady_clock::now();

  // The demo owns its output directory: start from a clean one (never deleting anything it did not make).
  if (fs::exists(s.out) && !fs::exists(s.out + "/.stepwise-demo") && !fs::is_empty(s.out))
    invalid_argument("demo: --out ", s.out, " exists and was not made by stepwise demo; choose another directory");
  fs::remove_all(s.out);
  fs::create_directories(s.out + "/data");
  write_file_atomic(s.out + "/.stepwise-demo", "made by stepwise demo; removed and rebuilt by each run\n");

  // Held-out problems first; training problems never repeat a test problem's numbers.
  ArithmeticTaskGenerator test_gen(s.seed * 1000 + 2, s.task), train_gen(s.seed * 1000 + 1, s.task);
  std::vector<ArithmeticProblem> test, train;
  std::set<std::string> test_expressions;
  while (static_cast<int64_t>(test.size()) < s.test_problems) {
    ArithmeticProblem p = test_gen.next();
    if (test_expressions.insert(p.expression).second) test.push_back(std::move(p));
  }
  while (static_cast<int64_t>(train.size()) < s.train_problems) {
    ArithmeticProblem p = train_gen.next();
    if (!test_expressions.count(p.expression)) train.push_back(std::move(p));
  }

  const ByteTokenizer tok;
  const Qwen3Config mc = demo_model_config(s);
  fs::create_directories(s.out + "/model");
  write_file_atomic(s.out + "/model/config.json", qwen3_config_to_json(mc).dump(2) + "\n");
  std::printf("== stepwise demo: do written-out steps let a small model solve what it cannot answer directly? ==\n"
              "task: %d-step word problems, e.g.\n  Q: %s\n  worked steps: %s   answer: %lld\n"
              "data: %lld training problems, %lld held-out test problems (no test problem's numbers occur in "
              "training)\nmodel: Qwen3 architecture trained from scratch: %lld layers, hidden %lld, %lld heads (%lld "
              "KV), FFN %lld, %.2fM parameters; byte tokenizer (%d ids), Qwen3 chat layout\n"
              "budget, the same for both: %lld optimizer steps of %lld packed rows x %lld tokens, AdamW lr %g "
              "(warmup, cosine)\nmachine: %d threads used of %u; %s accumulation on the CPU; %s\n\n",
              s.task.max_steps, test[0].question.c_str(), one_line(test[0].worked_steps()).c_str(),
              static_cast<long long>(test[0].answer), static_cast<long long>(s.train_problems),
              static_cast<long long>(s.test_problems), static_cast<long long>(mc.num_layers),
              static_cast<long long>(mc.hidden_size), static_cast<long long>(mc.num_heads),
              static_cast<long long>(mc.num_kv_heads), static_cast<long long>(mc.intermediate_size),
              static_cast<double>(mc.num_parameters()) / 1e6, ByteTokenizer::kVocabSize,
              static_cast<long long>(s.steps), static_cast<long long>(s.rows), static_cast<long long>(s.row_length),
              s.lr, threads, std::thread::hardware_concurrency(), s.accumulation.c_str(),
              kernels::cpu::blas_family_report().c_str());

  const ChatEncoder encode = [&tok](const std::vector<ChatMessage>& messages) {
    const ByteTokenizer::Chat chat = tok.encode_chat(messages, false);
    return EncodedExample{chat.ids, chat.assistant_mask};
  };
  DataPrepOptions prep;
  prep.max_len = s.row_length;
  prep.strict = true;
  prep.progress = false;
  VariantResult results[2];
  for (int v = 0; v < 2; ++v) {
    const Variant& var = kVariants[v];
    const std::string data = s.out + "/data/" + var.name;
    write_jsonl(data + "-train.jsonl", train, var.steps);
    write_jsonl(data + "-test.jsonl", test, var.steps);
    const DataPrepSummary sum = prepare_sft_data({data + "-train.jsonl"}, data + "-train", encode, prep);
    prepare_sft_data({data + "-test.jsonl"}, data + "-test", encode, prep);
    results[v].tokens_per_problem = static_cast<double>(sum.tokens) / static_cast<double>(sum.examples);
    std::printf("%s: %lld examples, %lld tokens (%.0f per example, loss on %.0f%% of them) -> %s-train\n",
                var.label, static_cast<long long>(sum.examples), static_cast<long long>(sum.tokens),
                results[v].tokens_per_problem,
                100.0 * static_cast<double>(sum.loss_tokens) / static_cast<double>(sum.tokens), data.c_str());
  }
  // Both models train side by side, each on its share of the cores: on 2 cores two single-threaded runs do ~1.5x
  // the work of one run on both cores (small matrices parallelise poorly), and each run's numbers stay its own.
  const int per_run = std::max(1, threads / 2);
  std::printf("\ntraining both models side by side, %d thread%s each\n", per_run, per_run > 1 ? "s" : "");
  std::fflush(stdout);
  std::exception_ptr failure[2];
  std::vector<std::thread> runs;
  for (int v = 0; v < 2; ++v)
    runs.emplace_back([&, v] {
      try {
        omp_set_num_threads(per_run);
        const Variant& var = kVariants[v];
        VariantResult& r = results[v];
        const auto t0 = std::chrono::steady_clock::now();
        RunOptions options;
        options.log_prefix = std::string("[") + var.label + "] ";
        r.train = run_sft(demo_train_config(s, var), options);
        r.graded = solve(*r.train.model, tok, test, var.steps ? 64 : 24);
        r.wall_s = seconds_since(t0);
        int64_t right = 0;
        for (const Graded& g : r.graded) right += g.correct;
        r.accuracy = static_cast<double>(right) / static_cast<double>(test.size());
        std::printf("[%s] %lld of %lld held-out problems right (%.1f%%)\n", var.label, static_cast<long long>(right),
                    static_cast<long long>(test.size()), 100 * r.accuracy);
        std::fflush(stdout);
      } catch (...) {
        failure[v] = std::current_exception();
      }
    });
  for (std::thread& t : runs) t.join();
  for (const std::exception_ptr& f : failure)
    if (f) std::rethrow_exception(f);
  std::printf("\n");

  const auto fmt = [](const char* f, double x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, x);
    return std::string(buf);
  };
  const auto row = [&](const char* what, const char* f, double a, double b) {
    std::printf("  %-34s %14s %14s\n", what, fmt(f, a).c_str(), fmt(f, b).c_str());
  };
  const VariantResult &cot = results[0], &direct = results[1];
  const auto tokens_per_s = [](const VariantResult& r) {
    return static_cast<double>(r.train.train_tokens) / r.train.train_seconds;
  };
  std::printf("== results on %lld held-out problems (greedy decoding, exact answer match) ==\n",
              static_cast<long long>(test.size()));
  std::printf("  %-34s %14s %14s\n", "", kVariants[0].label, kVariants[1].label);
  row("accuracy (%)", "%.1f", 100 * cot.accuracy, 100 * direct.accuracy);
  row("optimizer steps", "%.0f", static_cast<double>(cot.train.final_step),
      static_cast<double>(direct.train.final_step));
  row("training tokens", "%.0f", static_cast<double>(cot.train.train_tokens),
      static_cast<double>(direct.train.train_tokens));
  row("training problems seen (about)", "%.0f", static_cast<double>(cot.train.train_tokens) / cot.tokens_per_problem,
      static_cast<double>(direct.train.train_tokens) / direct.tokens_per_problem);
  row("training tokens/s", "%.0f", tokens_per_s(cot), tokens_per_s(direct));
  row("held-out loss, own targets (nats)", "%.4f", cot.train.evals.back().loss, direct.train.evals.back().loss);
  row("train + evaluate wall time (s)", "%.1f", cot.wall_s, direct.wall_s);
  std::printf("\nsamples (held-out):\n");
  for (int64_t i = 0; i < std::min<int64_t>(s.samples, static_cast<int64_t>(test.size())); ++i) {
    std::printf("  Q: %s  (answer %lld)\n", test[i].question.c_str(), static_cast<long long>(test[i].answer));
    for (int v = 0; v < 2; ++v) {
      const Graded& g = results[v].graded[i];
      std::printf("    %-13s %s  -> %s, %s\n", kVariants[v].label, one_line(g.completion).c_str(),
                  g.answer ? g.answer->c_str() : "no answer", g.correct ? "right" : "wrong");
    }
  }
  if (s.vote_samples > 1) {
    const auto t0 = std::chrono::steady_clock::now();
    omp_set_num_threads(threads);
    const VoteAccuracy v = vote_accuracy(*cot.train.model, tok, test, s.vote_samples, s.vote_temperature,
                                         s.seed * 1000 + 3, 64);
    std::printf("\n== self-consistency: the step-by-step model, %lld samples per problem at temperature %g ==\n"
                "  greedy: %.1f%%   one sample: %.1f%%   majority of %lld: %.1f%%   pass@%lld: %.1f%%   (%.1f s)\n",
                static_cast<long long>(s.vote_samples), s.vote_temperature, 100 * cot.accuracy, 100 * v.mean_sample,
                static_cast<long long>(s.vote_samples), 100 * v.majority, static_cast<long long>(s.vote_samples),
                100 * v.pass_at_k, seconds_since(t0));
  }
  std::printf("\nwith the steps written out: %.1f%% right; answering directly: %.1f%% (same %lld steps of %lld x %lld "
              "tokens)\nloss curves: %s/cot/loss_curve.svg, %s/direct/loss_curve.svg (metrics.jsonl, checkpoints "
              "beside them)\ntotal wall time %.0f s\n",
              100 * cot.accuracy, 100 * direct.accuracy, static_cast<long long>(s.steps),
              static_cast<long long>(s.rows), static_cast<long long>(s.row_length), s.out.c_str(), s.out.c_str(),
              seconds_since(t_start));
  return 0;
}

}  // namespace

void add_demo_command(CommandLine& cli, CLI::App& parent) {
  auto s = std::make_shared<DemoSettings>();
  CLI::App& command = add_command(
      parent, "demo", "train two small models on arithmetic with and without worked steps; compare accuracy",
      "stepwise demo --out runs/demo\n"
      "stepwise demo --out runs/demo-short --steps 1400 --seed 2",
      "Trains two Qwen3-architecture models from scratch with the same budget, one on step-by-step traces and\n"
      "one on the answers alone, through the real pipeline (data prepare, packed loader, SFT loop with\n"
      "checkpoints), then compares their held-out accuracy (greedy decoding, exact answers). A few minutes on 2\n"
      "cores with the defaults; docs/sft.md describes the task and the results.");
  command.add_option("--out", s->out, "the demo's directory, replaced by each run (never one it did not make)")
      ->type_name("DIR");
  at_least(command.add_option("--steps", s->steps, "optimizer steps of each model")->type_name("N"), 1);
  at_least(command.add_option("--lr", s->lr, "peak AdamW learning rate (5% warmup, cosine to a tenth)")
               ->type_name("LR"),
           0);
  at_least(command.add_option("--rows", s->rows, "packed rows per optimizer step")->type_name("R"), 1);
  at_least(command.add_option("--row-length", s->row_length, "tokens per packed row (and the longest example)")
               ->type_name("T"),
           1);
  check_value(command.add_option("--hidden", s->hidden, "the models' hidden size")->type_name("D"),
              "a positive multiple of the head size " + std::to_string(s->head_dim),
              [head_dim = s->head_dim](const std::string& value) -> std::string {
                char* end = nullptr;
                const long long d = std::strtoll(value.c_str(), &end, 10);
                if (value.empty() || *end || d < 1 || d % head_dim != 0)
                  return "must be a positive multiple of " + std::to_string(head_dim) + ", got " + value;
                return "";
              });
  at_least(command.add_option("--layers", s->layers, "the models' layers")->type_name("L"), 1);
  at_least(command.add_option("--train-problems", s->train_problems, "training problems")->type_name("N"), 1);
  at_least(command.add_option("--test-problems", s->test_problems, "held-out problems")->type_name("N"), 1);
  in_range(command.add_option("--min-steps", s->task.min_steps, "fewest operations in a problem")->type_name("K"), 2,
           4);
  in_range(command.add_option("--max-steps", s->task.max_steps, "most operations in a problem")->type_name("K"), 2,
           4);
  at_least(command.add_option("--max-count", s->task.max_count, "most containers in a problem at any step")
               ->type_name("N"),
           3);
  at_least(command.add_option("--max-items", s->task.max_items, "most items per container")->type_name("N"), 2);
  command.add_option("--seed", s->seed, "the problems' and the runs' random seed")->type_name("S");
  at_least(command.add_option("--vote-samples", s->vote_samples,
                              "self-consistency: sampled answers per problem for the step-by-step model (0: skip)")
               ->type_name("K"),
           0);
  at_least(command.add_option("--vote-temperature", s->vote_temperature, "their sampling temperature")
               ->type_name("T"),
           0);
  add_threads_flag(command, s->threads);
  one_of(command.add_option("--accumulation", s->accumulation,
                            "CPU matmul and attention sums (run.cpu_accumulation): float64 is the reference"),
         {"float32", "float64"});
  cli.on_run(command, [s] { return run_demo(*s); });
}

}  // namespace stepwise::cli
