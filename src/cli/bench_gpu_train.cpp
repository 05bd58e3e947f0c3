// `stepwise bench gpu-train`: one SFT step (forward, backward, gradient norm, AdamW) of a Qwen3 model on the GPU in
// mixed precision (bf16 weights and activations, f32 gradients, master weights and moments), random weights, a
// batch of B documents of T tokens packed into one micro-batch. Reports tokens/s and MFU, and the PyTorch eager and
// torch.compile baselines that hf_baseline.py measured in the same run on the same card (--baseline).
#include <cstdio>
#include <memory>

#include "cli/bench_gpu_common.h"
#include "cli/benchmarks.h"
#include "cli/command_line.h"
#include "cli/flags.h"
#include "train/adamw.h"

namespace stepwise::cli {

namespace {

struct GpuTrainFlags {
  std::string preset = "qwen3-0.6b";
  int64_t batch = 8, seq = 2048, steps = 6, warmup = 3;
  std::string baseline_path;
  bool recompute = false;
};

int bench_gpu_train(const GpuTrainFlags& flags) {
  const std::string& preset = flags.preset;
  const int64_t batch = flags.batch, seq = flags.seq, steps = flags.steps, warmup = flags.warmup;
  const std::string& baseline_path = flags.baseline_path;
  const bool recompute = flags.recompute;
  require_gpu("gpu-train");
  const nlohmann::json eager = load_baseline(baseline_path, "sft_eager");
  const nlohmann::json compiled = load_baseline(baseline_path, "sft_compiled");

  auto model = random_gpu_model(preset, recompute);
  const Qwen3Config& config = model->config();
  AdamW opt(model->parameters(), AdamWConfig{});
  TokenBatch tb;
  for (int64_t b = 0; b < batch; ++b) tb.add_document(random_tokens(seq, config.vocab_size, 1 + b));
  const float grad_scale = 1.0f / static_cast<float>(tb.num_targets());
  LossSum loss;
  const double seconds = median_device_seconds(
      [&] {
        model->zero_grads();
        loss = model->forward_backward(tb, grad_scale);
        model->finish_gradients();
        opt.step(1e-5f, global_grad_norm(model->parameters(), model->tp()));
      },
      warmup, steps);
  const double tokens_per_s = static_cast<double>(batch * seq) / seconds;
  const double mfu = train_flops_per_token(config, seq) * tokens_per_s / kH100BF16PeakFlops;

  std::printf("bench gpu-train: %s (%.0fM parameters) on %s, SFT step (fwd+bwd+AdamW), %lld x %lld tokens%s\n",
              preset.c_str(), static_cast<double>(config.num_parameters()) / 1e6, gpu_name().c_str(),
              static_cast<long long>(batch), static_cast<long long>(seq), recompute ? ", recomputing activations" : "");
  std::printf("  stepwise (bf16/f32 mixed)  %10.0f tokens/s   MFU %.1f%%   (median of %lld steps, loss %.4f)\n",
              tokens_per_s, 100 * mfu, static_cast<long long>(steps), loss.mean());
  nlohmann::json result = {{"bench", "gpu-train"}, {"preset", preset},    {"batch", batch},
                           {"seq", seq},           {"gpu", gpu_name()},   {"recompute", recompute},
                           {"tokens_per_s", tokens_per_s}, {"mfu", mfu}, {"step_s", seconds}};
  for (const auto& [name, base] : {std::pair{"eager", eager}, std::pair{"compiled", compiled}}) {
    if (base.is_null()) continue;
    const double theirs = base.at("tokens_per_s").get<double>();
    std::printf("  PyTorch %-8s %-9s %10.0f tokens/s   (%s, torch %s)   ratio %.2fx\n", name, "", theirs,
                base.value("gpu", "?").c_str(), base.value("torch", "?").c_str(), tokens_per_s / theirs);
    result[std::string("torch_") + name + "_tokens_per_s"] = theirs;
    result[std::string("ratio_vs_") + name] = tokens_per_s / theirs;
  }
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace

void add_bench_gpu_train(CommandLine& cli, CLI::App& bench) {
  auto flags = std::make_shared<GpuTrainFlags>();
  CLI::App& command = add_command(
      bench, "gpu-train", "SFT step tokens/s and MFU on the GPU (bf16) vs PyTorch eager/compile",
      "stepwise bench gpu-train --preset qwen3-0.6b --batch 8 --seq 2048 --baseline hf_baseline.json",
      "A CUDA build on a GPU. One SFT step: forward, backward, gradient norm, AdamW, in mixed precision, random\n"
      "weights; B documents of T tokens packed into one micro-batch. --baseline: the JSON hf_baseline.py wrote\n"
      "on the same card (tests/gpu/run_gpu_checks.sh runs both).");
  add_preset_flag(command, flags->preset);
  add_shape_flags(command, flags->batch, flags->seq);
  add_timing_flags(command, "steps", flags->steps, flags->warmup);
  add_baseline_flag(command, flags->baseline_path);
  command.add_flag("--recompute", flags->recompute, "recompute activations in the backward pass (less memory)");
  cli.on_run(command, [flags] { return bench_gpu_train(*flags); });
}

}  // namespace stepwise::cli
