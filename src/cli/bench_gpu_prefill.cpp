// `stepwise bench gpu-prefill`: one prompt of T tokens (default 4096) through a bf16 Qwen3 on the GPU, filling a KV
// cache and producing the next token's logits, against hf_baseline.py's prefill (a no-cache forward of the same
// length, same card, same run). Hugging Face also forms logits for every position there, which we do not: the LM
// head over 4096 rows is ~1.3 TFLOP, about 2 ms on an H100/H200.
#include <cstdio>
#include <memory>

#include "cli/bench_gpu_common.h"
#include "cli/benchmarks.h"
#include "cli/command_line.h"
#include "cli/flags.h"

namespace stepwise::cli {

namespace {

struct GpuPrefillFlags {
  std::string preset = "qwen3-0.6b";
  int64_t tokens = 4096, runs = 5, warmup = 2;
  std::string baseline_path;
};

int bench_gpu_prefill(const GpuPrefillFlags& flags) {
  const std::string& preset = flags.preset;
  const int64_t tokens = flags.tokens, runs = flags.runs, warmup = flags.warmup;
  const std::string& baseline_path = flags.baseline_path;
  require_gpu("gpu-prefill");
  const nlohmann::json base = load_baseline(baseline_path, "prefill");

  auto model = random_gpu_model(preset);
  const std::vector<int32_t> prompt = random_tokens(tokens, model->config().vocab_size, 11);
  KvCache cache = model->new_kv_cache(tokens);
  const double seconds = median_device_seconds(
      [&] {
        cache.length = 0;
        model->forward_step(prompt, cache);
      },
      warmup, runs);
  const double tokens_per_s = static_cast<double>(tokens) / seconds;

  std::printf("bench gpu-prefill: %s on %s, bf16, one sequence of %lld tokens into a KV cache\n", preset.c_str(),
              gpu_name().c_str(), static_cast<long long>(tokens));
  std::printf("  stepwise                   %10.0f tokens/s   (median of %lld runs, %.2f ms)\n", tokens_per_s,
              static_cast<long long>(runs), 1e3 * seconds);
  nlohmann::json result = {{"bench", "gpu-prefill"}, {"preset", preset},          {"tokens", tokens},
                           {"gpu", gpu_name()},      {"tokens_per_s", tokens_per_s}, {"seconds", seconds}};
  if (!base.is_null()) {
    const double theirs = base.at("tokens_per_s").get<double>();
    std::printf("  PyTorch eager (HF, no cache) %8.0f tokens/s   (%s, torch %s)   ratio %.2fx\n", theirs,
                base.value("gpu", "?").c_str(), base.value("torch", "?").c_str(), tokens_per_s / theirs);
    result["torch_tokens_per_s"] = theirs;
    result["ratio"] = tokens_per_s / theirs;
  }
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace

void add_bench_gpu_prefill(CommandLine& cli, CLI::App& bench) {
  auto flags = std::make_shared<GpuPrefillFlags>();
  CLI::App& command = add_command(
      bench, "gpu-prefill", "prompt prefill tokens/s on the GPU vs a PyTorch forward",
      "stepwise bench gpu-prefill --preset qwen3-0.6b --tokens 4096 --baseline hf_baseline.json",
      "A CUDA build on a GPU. One prompt of T tokens through a bf16 model into a KV cache, and the next token's\n"
      "logits; the baseline is hf_baseline.py's no-cache forward of the same length on the same card.");
  add_preset_flag(command, flags->preset);
  at_least(command.add_option("--tokens", flags->tokens, "prompt tokens")->type_name("T"), 1);
  add_timing_flags(command, "runs", flags->runs, flags->warmup);
  add_baseline_flag(command, flags->baseline_path);
  cli.on_run(command, [flags] { return bench_gpu_prefill(*flags); });
}

}  // namespace stepwise::cli
