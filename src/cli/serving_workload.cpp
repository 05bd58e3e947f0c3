// The serving benchmarks' workload and summary.
#include "cli/serving_workload.h"

#include <algorithm>
#include <cstdio>

#include "cli/flags.h"
#include "core/rng.h"
#include "core/status.h"

namespace stepwise::cli {

namespace {

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace

void add_workload_flags(CLI::App& command, WorkloadShape& s) {
  at_least(command.add_option("--requests", s.requests, "requests submitted at once")->type_name("N"), 1);
  at_least(command.add_option("--prompt-min", s.prompt_min, "shortest prompt")->type_name("N"), 1);
  at_least(command.add_option("--prompt-max", s.prompt_max, "longest prompt")->type_name("N"), 1);
  at_least(command.add_option("--new-min", s.new_min, "fewest new tokens")->type_name("N"), 1);
  at_least(command.add_option("--new-max", s.new_max, "most new tokens")->type_name("N"), 1);
  command.add_option("--seed", s.seed, "the workload's random seed")->type_name("S");
}

Workload make_workload(const WorkloadShape& s, int64_t vocab, int64_t context) {
  if (s.prompt_max < s.prompt_min || s.new_max < s.new_min)
    invalid_argument("--prompt-max / --new-max must be >= --prompt-min / --new-min");
  if (s.prompt_max + s.new_max > context)
    invalid_argument("--prompt-max + --new-max exceeds the model's context (", context, ")");
  Rng rng(s.seed);
  Workload w;
  for (int64_t i = 0; i < s.requests; ++i) {
    const int64_t p = s.prompt_min + static_cast<int64_t>(rng.below(static_cast<uint64_t>(s.prompt_max - s.prompt_min + 1)));
    std::vector<int32_t> prompt(static_cast<size_t>(p));
    for (int32_t& t : prompt) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
    w.prompts.push_back(prompt);
    w.new_tokens.push_back(s.new_min + static_cast<int64_t>(rng.below(static_cast<uint64_t>(s.new_max - s.new_min + 1))));
    w.total_new += w.new_tokens.back();
  }
  return w;
}

Summary summarize(const Timings& t, int64_t total_new) {
  std::vector<double> ttft, itl;
  for (const auto& a : t.arrivals) {
    if (a.empty()) continue;
    ttft.push_back(a.front());
    for (size_t i = 1; i < a.size(); ++i) itl.push_back(a[i] - a[i - 1]);
  }
  return {static_cast<double>(total_new) / t.wall, percentile(ttft, 0.5), percentile(ttft, 0.99),
          percentile(itl, 0.5), percentile(itl, 0.99)};
}

void print_summary_row(const char* name, const Summary& s) {
  std::printf("  %-22s %10.1f tokens/s   TTFT p50 %8.1f ms  p99 %8.1f ms   ITL p50 %7.2f ms  p99 %7.2f ms\n", name,
              s.tokens_per_s, 1e3 * s.ttft_p50, 1e3 * s.ttft_p99, 1e3 * s.itl_p50, 1e3 * s.itl_p99);
}

nlohmann::json summary_json(const Summary& s) {
  return {{"tokens_per_s", s.tokens_per_s}, {"ttft_p50_s", s.ttft_p50}, {"ttft_p99_s", s.ttft_p99},
          {"itl_p50_s", s.itl_p50},         {"itl_p99_s", s.itl_p99}};
}

int64_t identical_outputs(const Timings& a, const Timings& b) {
  int64_t n = 0;
  for (size_t i = 0; i < a.tokens.size() && i < b.tokens.size(); ++i) n += a.tokens[i] == b.tokens[i];
  return n;
}

}  // namespace stepwise::cli
