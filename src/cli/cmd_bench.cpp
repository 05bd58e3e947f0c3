// `stepwise bench <name>`: dispatches to the benchmarks in bench_<name>.cpp.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/benchmarks.h"
#include "cli/commands.h"
#include "core/status.h"

namespace stepwise::cli {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs a command and returns its stdout; errors name the command.
std::string run_capture(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) fail(StatusCode::kUnavailable, "could not start: ", cmd);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (pclose(p) != 0) fail(StatusCode::kUnavailable, "baseline failed (", cmd, "); output: ", out);
  return out;
}

namespace {
const Benchmark kBenchmarks[] = {
    {"cpu-train", "forward+backward tokens/s on the CPU vs PyTorch eager", bench_cpu_train},
    {"gpu-train", "SFT step tokens/s and MFU on the GPU (bf16) vs PyTorch eager/compile", bench_gpu_train},
    {"gpu-decode", "greedy decoding tokens/s of one sequence on the GPU vs HF generate", bench_gpu_decode},
    {"gpu-prefill", "prompt prefill tokens/s on the GPU vs a PyTorch forward", bench_gpu_prefill},
    {"scaling", "TP x DP step time and bytes per rank at 1, 2, 4 ranks; N-node projection", bench_scaling},
};
}  // namespace

int cmd_bench(int argc, char** argv) {
  std::string known;
  for (const Benchmark& b : kBenchmarks) known += std::string(known.empty() ? "" : ", ") + b.name;
  if (argc < 2 || !std::strcmp(argv[1], "--help")) {
    std::printf("usage: stepwise bench <name> [flags]\n");
    for (const Benchmark& b : kBenchmarks) std::printf("  %-12s %s\n", b.name, b.summary);
    if (argc < 2) invalid_argument("bench: name a benchmark (", known, ")");
    return 0;
  }
  for (const Benchmark& b : kBenchmarks)
    if (!std::strcmp(argv[1], b.name)) return b.run(argc - 1, argv + 1);
  invalid_argument("bench: unknown benchmark '", argv[1], "' (known: ", known, ")");
}

}  // namespace stepwise::cli
