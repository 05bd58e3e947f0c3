// `stepwise bench cpu-train`: forward+backward tokens/s of a Qwen3 model on the CPU, against plain PyTorch
// (eager, CPU) running the same shapes in the same run (bench/torch_qwen3.py), and their ratio.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/benchmarks.h"
#include "core/rng.h"
#include "core/status.h"
#include "model/qwen3.h"

namespace stepwise::cli {

int bench_cpu_train(int argc, char** argv) {
  Args args(argc, argv, {"no-torch"});
  const std::string preset = args.get_or("preset", "qwen3-tiny");
  const int64_t batch = args.get_int("batch", 4), seq = args.get_int("seq", 256);
  const int64_t steps = args.get_int("steps", 5), warmup = args.get_int("warmup", 1);
  const int threads = static_cast<int>(args.get_int("threads", omp_get_max_threads()));
  const std::string python = args.get_or("python", "/usr/bin/python3");
  const std::string script = args.get_or("torch-script", std::string(STEPWISE_SOURCE_DIR) + "/bench/torch_qwen3.py");
  const bool no_torch = args.flag("no-torch");
  args.finish();
  if (batch < 1 || seq < 2 || steps < 1) invalid_argument("bench cpu-train: --batch, --seq, --steps must be positive");
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

}  // namespace stepwise::cli
