// `stepwise bench cpu-train`: forward+backward tokens/s of a Qwen3 model on the CPU, with f64 accumulation (the
// reference) and f32, against plain PyTorch (eager, CPU) running the same shapes in the same run
// (bench/torch_qwen3.py), their ratios, and the OpenBLAS kernel family both sides ran.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/benchmarks.h"
#include "cli/command_line.h"
#include "cli/flags.h"
#include "core/rng.h"
#include "kernels/cpu/blas_family.h"
#include "model/qwen3.h"

namespace stepwise::cli {

namespace {

struct CpuTrainFlags {
  std::string preset = "qwen3-tiny";
  int64_t batch = 4, seq = 256, steps = 5, warmup = 1;
  int threads = 0;  // add_threads_flag sets the default
  std::string accumulation = "both";
  std::string python = "/usr/bin/python3", script = std::string(STEPWISE_SOURCE_DIR) + "/bench/torch_qwen3.py";
  bool no_torch = false;
};

struct Measured {
  double tokens_per_s = 0;
  double loss = 0;
};

// Median forward+backward throughput of one model on the batch.
Measured measure(const Qwen3Config& config, kernels::CpuAccumulation accumulation, const TokenBatch& tb,
                 const CpuTrainFlags& flags) {
  ModelOptions options;
  options.cpu_accumulation = accumulation;
  Qwen3Model model(config, options);
  model.init_random(0);
  std::vector<double> times;
  LossSum loss;
  for (int64_t i = 0; i < flags.warmup + flags.steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    model.zero_grads();
    loss = model.forward_backward(tb, 1.0f / static_cast<float>(tb.num_targets()));
    if (i >= flags.warmup) times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  return {static_cast<double>(tb.size()) / times[times.size() / 2], loss.mean()};
}

// The PyTorch baseline's JSON, run with this process's environment (so with the same OpenBLAS kernel family).
nlohmann::json torch_baseline(const Qwen3Config& config, const CpuTrainFlags& f) {
  const std::string cfg_path = "/tmp/stepwise-bench-" + std::to_string(getpid()) + ".json";
  std::ofstream(cfg_path) << qwen3_config_to_json(config).dump();
  const std::unique_ptr<const char, int (*)(const char*)> remove_later(cfg_path.c_str(), std::remove);
  return run_json(f.python + " " + f.script + " " + cfg_path + " --batch " + std::to_string(f.batch) + " --seq " +
                  std::to_string(f.seq) + " --steps " + std::to_string(f.steps) + " --warmup " +
                  std::to_string(f.warmup) + " --threads " + std::to_string(f.threads));
}

int bench_cpu_train(const CpuTrainFlags& flags) {
  omp_set_num_threads(flags.threads);
  const Qwen3Config config = qwen3_preset(flags.preset);
  Rng rng(1);
  TokenBatch tb;
  for (int64_t b = 0; b < flags.batch; ++b) {
    std::vector<int32_t> doc(static_cast<size_t>(flags.seq));
    for (auto& t : doc) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(config.vocab_size)));
    tb.add_document(doc);
  }
  std::printf("bench cpu-train: %s (%.2fM parameters), forward+backward, batch %lld x %lld tokens, %d threads\n",
              flags.preset.c_str(), static_cast<double>(config.num_parameters()) / 1e6,
              static_cast<long long>(flags.batch), static_cast<long long>(flags.seq), flags.threads);
  std::printf("  %s\n", kernels::cpu::blas_family_report().c_str());
  nlohmann::json result = {{"bench", "cpu-train"}, {"preset", flags.preset}, {"batch", flags.batch},
                           {"seq", flags.seq}, {"threads", flags.threads},
                           {"blas_kernels", kernels::cpu::blas_family_in_use()}};
  std::optional<Measured> reference, fast;
  if (flags.accumulation != "float32") {
    reference = measure(config, kernels::CpuAccumulation::kFloat64, tb, flags);
    std::printf("  stepwise, f64 accumulation (the reference)  %10.0f tokens/s   (median of %lld steps, loss %.4f)\n",
                reference->tokens_per_s, static_cast<long long>(flags.steps), reference->loss);
    result["stepwise_tokens_per_s"] = reference->tokens_per_s;
  }
  if (flags.accumulation != "float64") {
    fast = measure(config, kernels::CpuAccumulation::kFloat32, tb, flags);
    std::printf("  stepwise, f32 accumulation                  %10.0f tokens/s   (median of %lld steps, loss %.4f)\n",
                fast->tokens_per_s, static_cast<long long>(flags.steps), fast->loss);
    result["stepwise_f32_tokens_per_s"] = fast->tokens_per_s;
  }
  if (!flags.no_torch) {
    const nlohmann::json torch = torch_baseline(config, flags);
    const double base = torch.at("tokens_per_s").get<double>();
    std::printf("  PyTorch %-8s eager (f32)                %10.0f tokens/s   (same shapes, loss %.4f)\n",
                torch.at("torch").get<std::string>().c_str(), base, torch.at("loss").get<double>());
    result["torch_tokens_per_s"] = base;
    if (reference) {
      std::printf("  ratio stepwise f64 / PyTorch %10.2fx\n", reference->tokens_per_s / base);
      result["ratio"] = reference->tokens_per_s / base;
    }
    if (fast) {
      std::printf("  ratio stepwise f32 / PyTorch %10.2fx   (the same arithmetic as PyTorch's)\n",
                  fast->tokens_per_s / base);
      result["ratio_f32"] = fast->tokens_per_s / base;
    }
  }
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace

void add_bench_cpu_train(CommandLine& cli, CLI::App& bench) {
  auto flags = std::make_shared<CpuTrainFlags>();
  CLI::App& command = add_command(
      bench, "cpu-train", "forward+backward tokens/s on the CPU vs PyTorch eager",
      "stepwise bench cpu-train --preset qwen3-tiny --batch 4 --seq 256 --threads 2",
      "Random weights and tokens; PyTorch runs the same shapes in the same run (bench/torch_qwen3.py, with the same\n"
      "OpenBLAS kernels) unless --no-torch. stepwise runs with f64 accumulation (the reference) and f32 (PyTorch's\n"
      "arithmetic). Ends with one JSON line: blas_kernels, stepwise_tokens_per_s (f64), stepwise_f32_tokens_per_s,\n"
      "torch_tokens_per_s, ratio (f64 / PyTorch), ratio_f32.");
  add_preset_flag(command, flags->preset);
  add_shape_flags(command, flags->batch, flags->seq);
  add_timing_flags(command, "steps", flags->steps, flags->warmup);
  add_threads_flag(command, flags->threads);
  one_of(command.add_option("--accumulation", flags->accumulation, "the CPU accumulation(s) to measure"),
         {"float64", "float32", "both"});
  command.add_option("--python", flags->python, "the Python that runs the PyTorch baseline (Debian's python3-torch)")
      ->type_name("PATH");
  existing_file(command.add_option("--torch-script", flags->script, "the PyTorch baseline")->type_name("FILE"));
  command.add_flag("--no-torch", flags->no_torch, "skip the PyTorch baseline");
  cli.on_run(command, [flags] { return bench_cpu_train(*flags); });
}

}  // namespace stepwise::cli
