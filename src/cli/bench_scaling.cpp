// `stepwise bench scaling`: the cluster scaling test. Runs one fixed model for a few training steps at 1, 2 and 4
// ranks (TP x DP layouts; it re-launches itself under mpirun for each), reports the step time and the bytes each
// rank sends per step (counted by the communicators, ring algorithms), checks those bytes against the analytic
// counts of docs/distributed.md, and projects the step time of data parallelism over N nodes with an alpha-beta
// network model (--latency-us, --bandwidth-gbs).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/benchmarks.h"
#include "cli/command_line.h"
#include "cli/flags.h"
#include "core/rng.h"
#include "distributed/data_parallel.h"
#include "core/status.h"
#include "distributed/mpi_runtime.h"
#include "distributed/process_grid.h"
#include "model/qwen3.h"
#include "train/adamw.h"

namespace stepwise::cli {

namespace {

struct Workload {
  std::string preset = "qwen3-tiny";
  int64_t batch = 8, seq = 128, steps = 3, warmup = 1;
  bool zero1 = false;
};

struct ScalingFlags {
  Workload workload;
  bool worker = false;
  int tp = 1, dp = 1;
  std::string layouts = "1x1,2x1,1x2,4x1,2x2,1x4";
  std::string mpirun = geteuid() == 0 ? "mpirun --oversubscribe --allow-run-as-root" : "mpirun --oversubscribe";
  double latency_us = 5.0, bandwidth_gbs = 25.0;
  std::string nodes = "1,2,4,8,16,32,64";
};

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Elements of one rank's flat gradient block: every tensor padded to 64 f32 (256 bytes), the end to 64 x dp.
int64_t analytic_block_elements(const Qwen3Config& c, const Qwen3LocalDims& d, int dp) {
  const int64_t D = d.hidden;
  int64_t n = round_up(d.vocab * D, 64) + round_up(D, 64);  // embedding, final norm
  if (!c.tie_word_embeddings) n += round_up(d.vocab * D, 64);
  for (int64_t t : {D, d.q_dim() * D, d.kv_dim() * D, d.kv_dim() * D, d.head_dim, d.head_dim, D * d.q_dim(), D,
                    2 * d.ffn * D, D * d.ffn})
    n += d.layers * round_up(t, 64);
  return round_up(n, 64 * dp);
}

// Bytes one rank sends per training step (docs/distributed.md), for n tokens per rank.
struct StepBytes {
  double tp = 0, dp = 0;
};
StepBytes analytic_bytes(const Qwen3Config& c, const Qwen3LocalDims& d, int dp, int64_t n, bool zero1) {
  StepBytes b;
  const double t = d.tp_size, L = static_cast<double>(d.layers);
  if (t > 1) {  // activations [n, D]: embedding + 2 per layer forward, 2 per layer + LM head backward; loss
                // statistics (3 per row); the per-head norm gradients; the sharded part of the gradient norm
    const double floats = (4 * L + 2) * n * d.hidden + 3.0 * n + 2 * L * d.head_dim + 1;
    b.tp = ring_bytes_per_rank(Collective::kAllReduce, 4 * floats, d.tp_size);
  }
  if (dp > 1) {
    const double block = 4.0 * analytic_block_elements(c, d, dp);
    b.dp = zero1 ? ring_bytes_per_rank(Collective::kReduceScatter, block, dp) +
                       ring_bytes_per_rank(Collective::kAllGather, block, dp) +
                       ring_bytes_per_rank(Collective::kAllReduce, 8, dp)  // the two norm partial sums
                 : ring_bytes_per_rank(Collective::kAllReduce, block, dp);
    b.dp += ring_bytes_per_rank(Collective::kAllReduce, 4, dp);  // the step's loss summed over DP
  }
  return b;
}

// One layout, on every rank of this mpirun job; rank 0 prints a JSON line.
int run_worker(const Workload& w, int tp, int dp) {
  const ProcessGrid grid = make_process_grid(tp, Device::kCPU, dp);
  const Qwen3Config config = qwen3_preset(w.preset);
  ModelOptions options;
  options.tp = grid.tp.get();
  options.flat_block_multiple = dp;
  Qwen3Model model(config, options);
  model.init_random(0);
  Rng rng(1);
  TokenBatch local;  // the same global batch on every layout: document i goes to DP rank i % dp
  for (int64_t doc = 0; doc < w.batch; ++doc) {
    std::vector<int32_t> ids(static_cast<size_t>(w.seq));
    for (auto& id : ids) id = static_cast<int32_t>(rng.below(static_cast<uint64_t>(config.vocab_size)));
    if (doc % dp == grid.dp_rank) local.add_document(ids);
  }
  const int64_t tokens = sum_over_dp(*grid.dp, local.num_targets());
  AdamW opt(model, AdamWConfig{}, *grid.dp, w.zero1);
  std::vector<double> times;
  double loss = 0;
  for (int64_t i = 0; i < w.warmup + w.steps; ++i) {
    if (i == w.warmup) {
      grid.tp->reset_traffic();
      grid.dp->reset_traffic();
    }
    wait_for_every_rank(grid);  // outside the counted groups: steps start together
    const auto t0 = std::chrono::steady_clock::now();
    model.zero_grads();
    const LossSum l = model.forward_backward(local, 1.0f / static_cast<float>(tokens));
    model.finish_gradients();
    opt.step(1e-3f, opt.reduce_gradients());
    loss = sum_over_dp(*grid.dp, l.sum) / static_cast<double>(tokens);
    if (i >= w.warmup) times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  const double steps = static_cast<double>(w.steps);
  const StepBytes want = analytic_bytes(config, model.dims(), dp, local.size(), w.zero1);
  const nlohmann::json out = {{"tp", tp},
                              {"dp", dp},
                              {"step_s", times[times.size() / 2]},
                              {"loss", loss},
                              {"tokens_per_rank", local.size()},
                              {"grad_block_elements", model.grad_block().numel()},
                              {"tp_bytes", grid.tp->traffic().total().ring_bytes_sent / steps},
                              {"tp_calls", grid.tp->traffic().total().calls / steps},
                              {"dp_bytes", grid.dp->traffic().total().ring_bytes_sent / steps},
                              {"dp_calls", grid.dp->traffic().total().calls / steps},
                              {"tp_bytes_analytic", want.tp},
                              {"dp_bytes_analytic", want.dp},
                              {"tp_seconds", grid.tp->traffic().total().seconds / steps},
                              {"dp_seconds", grid.dp->traffic().total().seconds / steps}};
  if (grid.is_root()) std::printf("%s\n", out.dump().c_str());
  return 0;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) fail(StatusCode::kInternal, "bench scaling: cannot find its own executable (/proc/self/exe)");
  return std::string(buf, static_cast<size_t>(n));
}

bool close_to(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)}); }

int bench_scaling(const ScalingFlags& options) {
  const Workload& w = options.workload;
  const bool worker = options.worker;
  const int tp = options.tp, dp = options.dp;
  const std::string &layouts = options.layouts, &mpirun = options.mpirun, &nodes = options.nodes;
  const double latency = options.latency_us * 1e-6, bandwidth = options.bandwidth_gbs * 1e9;
  if (worker) return run_with_mpi_if_needed(true, [&] { return run_worker(w, tp, dp); });

  const std::string flags = " --preset " + w.preset + " --batch " + std::to_string(w.batch) + " --seq " +
                            std::to_string(w.seq) + " --steps " + std::to_string(w.steps) + " --warmup " +
                            std::to_string(w.warmup) + (w.zero1 ? " --zero1" : "");
  std::printf("bench scaling: %s, global batch %lld x %lld tokens, %s, median of %lld steps\n", w.preset.c_str(),
              static_cast<long long>(w.batch), static_cast<long long>(w.seq),
              w.zero1 ? "DP with ZeRO-1 (reduce-scatter + all-gather)" : "DP with gradient all-reduce",
              static_cast<long long>(w.steps));
  std::printf("  %-6s %5s %10s %12s %14s %14s %14s %14s %6s\n", "TPxDP", "ranks", "step ms", "tokens/s",
              "TP B/rank/step", "TP analytic", "DP B/rank/step", "DP analytic", "check");
  nlohmann::json results = nlohmann::json::array();
  bool all_ok = true;
  std::istringstream list(layouts);
  for (std::string item; std::getline(list, item, ',');) {
    int lt = 0, ld = 0;
    if (std::sscanf(item.c_str(), "%dx%d", &lt, &ld) != 2 || lt < 1 || ld < 1)
      invalid_argument("bench scaling: --layouts item '", item, "' is not TPxDP (e.g. 2x1)");
    nlohmann::json r = run_json(mpirun + " -np " + std::to_string(lt * ld) + " -x OMP_NUM_THREADS=1 " + self_exe() +
                                " bench scaling --worker --tp " + std::to_string(lt) + " --dp " + std::to_string(ld) +
                                flags);
    const bool ok = close_to(r["tp_bytes"], r["tp_bytes_analytic"]) && close_to(r["dp_bytes"], r["dp_bytes_analytic"]);
    all_ok = all_ok && ok;
    r["bytes_match_analytic"] = ok;
    const double step = r["step_s"];
    std::printf("  %-6s %5d %10.2f %12.0f %14.0f %14.0f %14.0f %14.0f %6s\n", item.c_str(), lt * ld, step * 1e3,
                static_cast<double>(w.batch * w.seq) / step, r["tp_bytes"].get<double>(),
                r["tp_bytes_analytic"].get<double>(), r["dp_bytes"].get<double>(), r["dp_bytes_analytic"].get<double>(),
                ok ? "ok" : "DIFF");
    results.push_back(r);
  }
  std::printf("bytes check: %s\n", all_ok ? "ok (measured = analytic for every layout)" : "MISMATCH");

  // Weak scaling of DP over N nodes, one rank per node with the 1-rank run's batch and step time:
  // T(N) = T1 + k * steps(N) * alpha + ring bytes(N) / beta.
  const nlohmann::json& single = results.front();
  const double t1 = single["step_s"], block = 4.0 * single["grad_block_elements"].get<double>();
  std::printf("projected DP over N nodes (latency %.1f us, bandwidth %.1f GB/s per rank; compute = the %s run):\n",
              latency * 1e6, bandwidth / 1e9, layouts.substr(0, layouts.find(',')).c_str());
  std::printf("  %6s %12s %12s %12s %14s %10s\n", "nodes", "comm MB", "comm ms", "step ms", "tokens/s", "efficiency");
  std::istringstream node_list(nodes);
  for (std::string item; std::getline(node_list, item, ',');) {
    const int n = std::stoi(item);
    const double bytes = n > 1 ? (w.zero1 ? 2 * ring_bytes_per_rank(Collective::kAllGather, block, n)
                                          : ring_bytes_per_rank(Collective::kAllReduce, block, n))
                               : 0.0;
    // Ring steps: the block's all-reduce, or its reduce-scatter + all-gather and the norm's all-reduce; the loss.
    const double hops = (w.zero1 ? 4.0 : 2.0) * (n - 1) + 2.0 * (n - 1);
    const double comm = hops * latency + bytes / bandwidth, step = t1 + comm;
    std::printf("  %6d %12.2f %12.3f %12.2f %14.0f %9.1f%%\n", n, bytes / 1e6, comm * 1e3, step * 1e3,
                n * static_cast<double>(w.batch * w.seq) / step, 100 * t1 / step);
  }
  std::printf("%s\n", nlohmann::json({{"bench", "scaling"},
                                      {"preset", w.preset},
                                      {"zero1", w.zero1},
                                      {"bytes_match_analytic", all_ok},
                                      {"layouts", results}})
                          .dump()
                          .c_str());
  return all_ok ? 0 : 1;
}

}  // namespace

void add_bench_scaling(CommandLine& cli, CLI::App& bench) {
  auto flags = std::make_shared<ScalingFlags>();
  Workload& w = flags->workload;
  CLI::App& command = add_command(
      bench, "scaling", "TP x DP step time and bytes per rank at 1, 2, 4 ranks; N-node projection",
      "stepwise bench scaling --layouts 1x1,2x1,1x2 --batch 8 --seq 128\n"
      "stepwise bench scaling --zero1 --latency-us 2 --bandwidth-gbs 50",
      "Re-launches itself under --mpirun for each layout (one OpenMP thread per rank), checks the bytes each rank\n"
      "sends against the analytic counts of docs/distributed.md (exit status 1 when they differ), and projects\n"
      "data parallelism over N nodes with an alpha-beta network model.");
  add_preset_flag(command, w.preset);
  add_shape_flags(command, w.batch, w.seq);
  add_timing_flags(command, "steps", w.steps, w.warmup);
  command.add_flag("--zero1", w.zero1, "data parallelism with ZeRO-1 (reduce-scatter + all-gather)");
  command.add_option("--layouts", flags->layouts, "the TPxDP layouts to run, comma-separated")->type_name("LIST");
  command.add_option("--mpirun", flags->mpirun, "the launcher command (its flags included)")->type_name("CMD");
  at_least(command.add_option("--latency-us", flags->latency_us, "per-message network latency of the projection")
               ->type_name("US"),
           0);
  at_least(command.add_option("--bandwidth-gbs", flags->bandwidth_gbs, "per-rank network bandwidth of the projection")
               ->type_name("GB/S"),
           1e-6);
  command.add_option("--nodes", flags->nodes, "node counts of the projection, comma-separated")->type_name("LIST");
  command.add_flag("--worker", flags->worker, "internal: run one layout as a rank of the mpirun job (with --tp, --dp)");
  at_least(command.add_option("--tp", flags->tp, "internal, with --worker: the layout's tensor-parallel size")
               ->type_name("N"),
           1);
  at_least(command.add_option("--dp", flags->dp, "internal, with --worker: the layout's data-parallel size")
               ->type_name("N"),
           1);
  cli.on_run(command, [flags] { return bench_scaling(*flags); });
}

}  // namespace stepwise::cli
