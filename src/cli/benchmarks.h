// The benchmarks of `stepwise bench <name>`: each prints its figures and a baseline measured in the same run,
// and ends with one JSON line of results. Each lives in its own bench_<name>.cpp and declares itself as a
// subcommand of `bench` (see commands.h).
#pragma once

#include <chrono>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace stepwise::cli {

class CommandLine;

void add_bench_cpu_train(CommandLine& cli, CLI::App& bench);
void add_bench_gpu_train(CommandLine& cli, CLI::App& bench);
void add_bench_gpu_decode(CommandLine& cli, CLI::App& bench);
void add_bench_gpu_prefill(CommandLine& cli, CLI::App& bench);
void add_bench_scaling(CommandLine& cli, CLI::App& bench);
void add_bench_serve(CommandLine& cli, CLI::App& bench);
void add_bench_grpc(CommandLine& cli, CLI::App& bench);
void add_bench_jobs(CommandLine& cli, CLI::App& bench);
void add_bench_convert(CommandLine& cli, CLI::App& bench);

// Shared by the benchmarks.
double seconds_since(std::chrono::steady_clock::time_point t0);
// Runs a shell command (a baseline script, a worker job) and returns the JSON object that ends its stdout (its
// result line); a failure, or output without that line, names the command and its output.
nlohmann::json run_json(const std::string& cmd);
// Runs a shell command and returns its stdout; a failure names the command and its output.
std::string run_capture(const std::string& cmd);

}  // namespace stepwise::cli
