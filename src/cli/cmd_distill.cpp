// `stepwise distill`: reasoning traces from a teacher (a model folder or a server), kept when their answer is right,
// appended to a JSONL file that `stepwise data prepare` reads (eval/distill.h).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/completion_sources.h"
#include "cli/flags.h"
#include "core/status.h"
#include "eval/distill.h"

namespace stepwise::cli {

namespace {

struct DistillFlags {
  CompletionSourceFlags source;
  ProblemFlags problems;
  std::string out;
  bool no_progress = false;
  DistillOptions options;
};

int run(DistillFlags& f) {
  f.options.progress = !f.no_progress;
  const std::vector<ReasoningProblem> problems = f.problems.load();
  const std::unique_ptr<CompletionSource> teacher = open_completion_source(f.source);
  const std::filesystem::path parent = std::filesystem::path(f.out).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  const DistillSummary s = run_distill(*teacher, problems, f.options, f.out);
  std::printf(
      "distill: %s on %s: %lld problems asked (%lld done before), %lld traces generated, %lld right, "
      "%lld kept (%lld duplicates, %lld without an answer); mean kept trace %.0f tokens; %s holds %lld\n",
      teacher->describe().c_str(), f.problems.dataset.c_str(), static_cast<long long>(s.problems),
      static_cast<long long>(s.already_done), static_cast<long long>(s.generated), static_cast<long long>(s.correct),
      static_cast<long long>(s.kept), static_cast<long long>(s.duplicates), static_cast<long long>(s.unfinished),
      s.mean_kept_tokens, f.out.c_str(), static_cast<long long>(s.traces_in_file));
  std::printf("%s\n", s.to_json().dump().c_str());
  return 0;
}

}  // namespace

void add_distill_command(CommandLine& cli, CLI::App& parent) {
  auto f = std::make_shared<DistillFlags>();
  CLI::App& command = add_command(
      parent, "distill", "reasoning traces from a teacher, kept when right, as SFT data",
      "stepwise distill --teacher 127.0.0.1:50051 --dataset math500 --samples 4 --out data/traces.jsonl\n"
      "stepwise distill --teacher models/Qwen3-0.6B --dataset gsm8k --limit 100 --shortest --out traces.jsonl",
      "The teacher answers each problem K times with thinking on (the book's prompt, docs/eval.md); a trace is\n"
      "kept when its final answer (after </think>) matches the reference, exact duplicates dropped. Traces are\n"
      "appended to OUT as {problem, gtruth_answer, message_thinking, message_content}: `stepwise data prepare`\n"
      "reads them. Running again skips the problems already asked (OUT.progress.jsonl), so it resumes after an\n"
      "interruption and appends another dataset. The last line printed is a JSON summary.");
  check_value(command
                  .add_option_function<std::string>(
                      "--teacher",
                      [f](const std::string& v) {
                        if (std::filesystem::is_directory(v)) {
                          f->source.model_dir = v;
                        } else {
                          f->source.connection.server = v;
                          f->source.use_server = true;
                        }
                      },
                      "the teacher: a model folder (run here) or a server's host:port")
                  ->type_name("DIR|ADDR"),
              "an existing folder, or HOST:PORT", [](const std::string& v) -> std::string {
                if (std::filesystem::is_directory(v) || v.find(':') != std::string::npos) return "";
                return "'" + v + "' is neither a model folder (no such directory) nor a server's HOST:PORT";
              });
  add_completion_source_flags(command, f->source);
  add_problem_flags(command, f->problems);
  at_least(command.add_option("--samples", f->options.samples, "K traces per problem")
               ->type_name("K")
               ->capture_default_str(),
           1);
  at_least(command.add_option("--temperature", f->options.temperature, "the teacher's sampling temperature")
               ->type_name("T")
               ->capture_default_str(),
           0);
  in_range(
      command.add_option("--top-p", f->options.top_p, "the teacher's top-p")->type_name("P")->capture_default_str(), 0,
      1, /*min_excluded=*/true);
  command.add_option("--seed", f->options.seed, "problem j's samples draw from seed + j*K + i")->type_name("S");
  at_least(command.add_option("--max-tokens", f->options.max_tokens, "new tokens per trace, reasoning included")
               ->type_name("N")
               ->capture_default_str(),
           1);
  at_least(command
               .add_option("--thinking-budget", f->options.thinking_budget,
                           "at most N tokens of thinking, then </think> is forced; -1: unlimited")
               ->type_name("N"),
           -1);
  command.add_flag("--shortest", f->options.shortest_only, "keep only the shortest right trace of each problem");
  at_least(
      command.add_option("--batch", f->options.batch, "problems asked at once")->type_name("N")->capture_default_str(),
      1);
  command.add_option("--out", f->out, "the traces' JSONL file (appended to)")->required()->type_name("FILE");
  command.add_flag("--no-progress", f->no_progress, "no progress bar on stderr");
  cli.on_run(command, [f] { return run(*f); });
}

}  // namespace stepwise::cli
