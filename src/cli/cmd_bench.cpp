// `stepwise bench <name>`: the benchmarks, each declared by its bench_<name>.cpp, and what they share.
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "cli/benchmarks.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "core/status.h"

namespace stepwise::cli {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Its stderr goes straight to ours.
std::string run_capture(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) fail(StatusCode::kUnavailable, "could not start: ", cmd);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  if (status != 0)
    fail(StatusCode::kUnavailable, "baseline failed (",
         WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status)) : "killed", "; its messages are ",
         "above): ", cmd, out.empty() ? "" : "; its output: " + out);
  return out;
}

nlohmann::json run_json(const std::string& cmd) {
  const std::string out = run_capture(cmd);
  const size_t start = out.rfind('{');
  const nlohmann::json result = nlohmann::json::parse(out.begin() + (start == std::string::npos ? 0 : start),
                                                      out.end(), nullptr, /*allow_exceptions=*/false);
  if (result.is_discarded() || !result.is_object())
    fail(StatusCode::kUnavailable, "no JSON result line at the end of the output of: ", cmd, "; its output: ", out);
  return result;
}

void add_bench_command(CommandLine& cli, CLI::App& parent) {
  CLI::App& bench = add_command(
      parent, "bench", "benchmarks against baselines measured in the same run (cpu-train, gpu-*, scaling)",
      "stepwise bench cpu-train --preset qwen3-tiny --batch 4 --seq 256",
      "Each prints its figures, the baseline's, and one JSON line of results (docs/performance.md).");
  for (auto add : {add_bench_cpu_train, add_bench_gpu_train, add_bench_gpu_decode, add_bench_gpu_prefill,
                   add_bench_scaling, add_bench_serve, add_bench_grpc, add_bench_jobs, add_bench_convert})
    add(cli, bench);
  set_subcommand_heading(bench, "Benchmarks");
}

}  // namespace stepwise::cli
