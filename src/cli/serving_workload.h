// The request mix of the serving benchmarks (`bench serve`, `bench grpc`): greedy requests with prompt and output
// lengths drawn uniformly from ranges with a fixed seed, all submitted at time 0; each token's arrival time, and
// the summary printed: aggregate generated tokens/s, time to first token and inter-token latency (p50 / p99).
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command_line.h"

namespace stepwise::cli {

struct WorkloadShape {
  int64_t requests = 32, prompt_min = 16, prompt_max = 128, new_min = 64, new_max = 512;
  uint64_t seed = 1;
};
// --requests, --prompt-min/max, --new-min/max, --seed.
void add_workload_flags(CLI::App& command, WorkloadShape& shape);

struct Workload {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<int64_t> new_tokens;
  int64_t total_new = 0;
};
// INVALID_ARGUMENT when a range is empty or a request would not fit `context`.
Workload make_workload(const WorkloadShape& shape, int64_t vocab, int64_t context);

// Token arrival times (seconds from the start) per request, and what each request produced.
struct Timings {
  std::vector<std::vector<double>> arrivals;
  std::vector<std::vector<int32_t>> tokens;
  double wall = 0;
};

struct Summary {
  double tokens_per_s, ttft_p50, ttft_p99, itl_p50, itl_p99;
};
Summary summarize(const Timings& t, int64_t total_new);
void print_summary_row(const char* name, const Summary& s);
nlohmann::json summary_json(const Summary& s);
// Requests whose tokens are the same in both runs.
int64_t identical_outputs(const Timings& a, const Timings& b);

}  // namespace stepwise::cli
