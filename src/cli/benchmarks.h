// The benchmarks of `stepwise bench <name>`: each prints its figures and a baseline measured in the same run,
// and ends with one JSON line of results. Each lives in its own bench_<name>.cpp.
#pragma once

#include <chrono>
#include <string>

namespace stepwise::cli {

struct Benchmark {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);  // argv[0] is the benchmark's name
};

int bench_cpu_train(int argc, char** argv);
int bench_gpu_train(int argc, char** argv);
int bench_gpu_decode(int argc, char** argv);
int bench_gpu_prefill(int argc, char** argv);
int bench_scaling(int argc, char** argv);

// Shared by the benchmarks.
double seconds_since(std::chrono::steady_clock::time_point t0);
// Runs a shell command (a baseline script) and returns its stdout; a failure names the command and its output.
std::string run_capture(const std::string& cmd);

}  // namespace stepwise::cli
