// `stepwise eval run`: a reasoning benchmark (MATH-500, GSM8K or a file) asked of a model or a server, graded,
// with self-consistency and the test-time compute curve (eval/eval_run.h).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/completion_sources.h"
#include "cli/flags.h"
#include "core/status.h"
#include "eval/eval_run.h"

namespace stepwise::cli {

namespace {

struct EvalRunFlags {
  CompletionSourceFlags source;
  ProblemFlags problems;
  std::string out, budgets, vote = "majority";
  bool no_thinking = false, no_progress = false;
  EvalRunOptions options;
};

// "0,64,256" -> budgets, each >= 0; `error` says what is wrong.
std::vector<int64_t> parse_budgets(const std::string& text, std::string* error) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end || v < 0) {
      *error = "'" + item + "' is not a thinking budget (comma-separated token counts >= 0, e.g. 0,64,256)";
      return {};
    }
    out.push_back(v);
  }
  return out;
}

int run(EvalRunFlags& f) {
  if (!f.budgets.empty()) {
    std::string error;
    f.options.thinking_budgets = parse_budgets(f.budgets, &error);
    if (f.no_thinking) invalid_argument("--thinking-budgets: not with --no-thinking (budget 0 is the no-thinking run)");
  }
  f.options.enable_thinking = !f.no_thinking;
  f.options.progress = !f.no_progress;
  f.options.dataset = f.problems.dataset;
  const std::vector<ReasoningProblem> problems = f.problems.load();
  const std::unique_ptr<CompletionSource> source = open_completion_source(f.source);
  const EvalReport report = run_eval(*source, problems, f.options, f.out);
  char sampled[96] = "";
  if (f.options.samples > 1)
    std::snprintf(sampled, sizeof sampled, ", %lld samples each at temperature %g",
                  static_cast<long long>(f.options.samples), f.options.temperature);
  std::printf("eval: %s on %s (%zu problems%s)\n%s", report.source.c_str(), f.problems.dataset.c_str(), problems.size(),
              sampled, report.table().c_str());
  std::printf("report %s/report.json, items %s/items.jsonl%s\n", f.out.c_str(), f.out.c_str(),
              report.budgets.size() > 1 ? (", curve " + f.out + "/compute_curve.svg").c_str() : "");
  std::printf("%s\n", report.to_json().dump().c_str());
  return 0;
}

}  // namespace

void add_eval_run_command(CommandLine& cli, CLI::App& eval) {
  auto f = std::make_shared<EvalRunFlags>();
  CLI::App& command = add_command(
      eval, "run", "ask a model or a server MATH-500 / GSM8K / your problems, grade, report",
      "stepwise eval run --model Qwen3-0.6B --dataset math500 --limit 50 --out runs/eval-math500\n"
      "stepwise eval run --server 127.0.0.1:50051 --dataset gsm8k --samples 8 --temperature 0.8 --out runs/sc\n"
      "stepwise eval run --server HOST:PORT --dataset math500 --thinking-budgets 0,64,256,1024 --out runs/tts",
      "Each problem is asked with the book's prompt (docs/eval.md) in the chat template, greedily; --samples K adds\n"
      "K samples (majority vote over equivalent answers, pass@K, best-of-K by mean log-probability);\n"
      "--thinking-budgets runs every budget and plots accuracy against generated tokens. Results go to\n"
      "OUT/items.jsonl as they are graded: running the same command again resumes. The last line printed is the\n"
      "report as JSON (also OUT/report.json).");
  add_completion_source_flags(command, f->source);
  add_problem_flags(command, f->problems);
  at_least(command.add_option("--samples", f->options.samples, "K samples per problem besides the greedy answer")
               ->type_name("K"),
           1);
  at_least(command.add_option("--temperature", f->options.temperature, "of the K samples")
               ->type_name("T")
               ->capture_default_str(),
           0);
  in_range(command.add_option("--top-p", f->options.top_p, "of the K samples")->type_name("P")->capture_default_str(),
           0, 1, /*min_excluded=*/true);
  command.add_option("--seed", f->options.seed, "problem j's samples draw from seed + j*K + i")->type_name("S");
  one_of(command.add_option("--vote", f->vote, "how K samples make one answer")->capture_default_str(), {"majority"});
  command.add_flag("--no-thinking", f->no_thinking, "ask with thinking off (the template's empty think block)");
  at_least(command.add_option("--max-tokens", f->options.max_tokens, "new tokens per answer, reasoning included")
               ->type_name("N")
               ->capture_default_str(),
           1);
  check_value(command.add_option("--thinking-budgets", f->budgets, "run each thinking budget (0: no thinking)")
                  ->type_name("N,N,..."),
              "comma-separated token counts >= 0", [](const std::string& v) {
                std::string error;
                parse_budgets(v, &error);
                return error;
              });
  at_least(
      command.add_option("--batch", f->options.batch, "problems asked at once")->type_name("N")->capture_default_str(),
      1);
  command.add_option("--out", f->out, "the run's folder (items.jsonl, report.json, settings.json)")
      ->required()
      ->type_name("DIR");
  command.add_flag("--no-progress", f->no_progress, "no progress bar on stderr");
  cli.on_run(command, [f] { return run(*f); });
}

}  // namespace stepwise::cli
