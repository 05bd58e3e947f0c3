// `stepwise bench cpu-train`: forward+backward tokens/s of a Qwen3 model on the CPU, against plain PyTorch
// (eager, CPU) running the same shapes in the same run (bench/torch_qwen3.py), and their ratio.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/benchmarks.h"
#include "cli/command_line.h"
#include "cli/flags.h"
#include "core/rng.h"
#include "model/qwen3.h"

namespace stepwise::cli {

namespace {

struct CpuTrainFlags {
  std::string preset = "qwen3-tiny";
  int64_t batch = 4, seq = 256, steps = 5, warmup = 1;
  int threads = 0;  // add_threads_flag sets the default
  std::string python = "/usr/bin/python3", script = std::string(STEPWISE_SOURCE_DIR) + "/bench/torch_qwen3.py";
  bool no_torch = false;
};

int bench_cpu_train(const CpuTrainFlags& flags) {
  const std::string& preset = flags.preset;
  const int64_t batch = flags.batch, seq = flags.seq, steps = flags.steps, warmup = flags.warmup;
  const int threads = flags.threads;
  const std::string &python = flags.python, &script = flags.script;
  const bool no_torch = flags.no_torch;
  omp_set_num_threads(threads);

  const Qwen3Config config = qwen3_preset(preset);
  Qwen3Model model(config, ModelOptions{});
  model.init_random(0);
  Rng rng(1);
  TokenBatch tb;
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int32_t> doc(static_cast<size_t>(seq));
    for (auto& t : doc) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(config.vocab_size)));
    tb.add_document(doc);
  }
  std::vector<double> times;
  LossSum loss;
  for (int64_t i = 0; i < warmup + steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    model.zero_grads();
    loss = model.forward_backward(tb, 1.0f / static_cast<float>(tb.num_targets()));
    if (i >= warmup) times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  const double ours = static_cast<double>(batch * seq) / times[times.size() / 2];

  std::printf("bench cpu-train: %s (%.2fM parameters), forward+backward, batch %lld x %lld tokens, %d threads\n",
              preset.c_str(), static_cast<double>(config.num_parameters()) / 1e6, static_cast<long long>(batch),
              static_cast<long long>(seq), threads);
  std::printf("  stepwise (CPU fp32)      %10.0f tokens/s   (median of %lld steps, loss %.4f)\n", ours,
              static_cast<long long>(steps), loss.mean());
  nlohmann::json result = {{"bench", "cpu-train"}, {"preset", preset}, {"batch", batch}, {"seq", seq},
                           {"threads", threads}, {"stepwise_tokens_per_s", ours}};
  if (!no_torch) {
    const std::string cfg_path = "/tmp/stepwise-bench-" + std::to_string(getpid()) + ".json";
    std::ofstream(cfg_path) << qwen3_config_to_json(config).dump();
    const std::string out = run_capture(python + " " + script + " " + cfg_path + " --batch " + std::to_string(batch) +
                                        " --seq " + std::to_string(seq) + " --steps " + std::to_string(steps) +
                                        " --warmup " + std::to_string(warmup) + " --threads " + std::to_string(threads));
    std::remove(cfg_path.c_str());
    const auto torch = nlohmann::json::parse(out.substr(out.rfind('{')));
    const double base = torch.at("tokens_per_s").get<double>();
    std::printf("  PyTorch %-8s eager     %10.0f tokens/s   (same shapes, loss %.4f)\n",
                torch.at("torch").get<std::string>().c_str(), base, torch.at("loss").get<double>());
    std::printf("  ratio stepwise / PyTorch %10.2fx\n", ours / base);
    result["torch_tokens_per_s"] = base;
    result["ratio"] = ours / base;
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
      "Random weights and tokens; PyTorch runs the same shapes in the same run (bench/torch_qwen3.py) unless\n"
      "--no-torch. Ends with one JSON line: stepwise_tokens_per_s, torch_tokens_per_s, ratio.");
  add_preset_flag(command, flags->preset);
  add_shape_flags(command, flags->batch, flags->seq);
  add_timing_flags(command, "steps", flags->steps, flags->warmup);
  add_threads_flag(command, flags->threads);
  command.add_option("--python", flags->python, "the Python that runs the PyTorch baseline (with PyTorch: Debian's python3-torch)")->type_name("PATH");
  existing_file(command.add_option("--torch-script", flags->script, "the PyTorch baseline")->type_name("FILE"));
  command.add_flag("--no-torch", flags->no_torch, "skip the PyTorch baseline");
  cli.on_run(command, [flags] { return bench_cpu_train(*flags); });
}

}  // namespace stepwise::cli
