// `stepwise bench gpu-decode`: greedy generation of one sequence on the GPU (bf16, random weights): a prompt of P
// tokens, then N new tokens through the KV cache, timed end to end as Hugging Face's generate() is timed by
// hf_baseline.py (B=1, same P and N), plus the decode steps alone (prefill subtracted) and the same generation with
// each step's kernels launched one by one instead of replaying the recorded graph.
#include <cstdio>
#include <memory>

#include "cli/bench_gpu_common.h"
#include "cli/benchmarks.h"
#include "cli/command_line.h"
#include "cli/flags.h"
#include "infer/generate.h"

namespace stepwise::cli {

namespace {

struct GpuDecodeFlags {
  std::string preset = "qwen3-0.6b";
  int64_t prompt = 128, new_tokens = 256, runs = 3, warmup = 1;
  std::string baseline_path;
};

int bench_gpu_decode(const GpuDecodeFlags& flags) {
  const std::string& preset = flags.preset;
  const int64_t prompt = flags.prompt, new_tokens = flags.new_tokens, runs = flags.runs, warmup = flags.warmup;
  const std::string& baseline_path = flags.baseline_path;
  require_gpu("gpu-decode");
  const nlohmann::json base = load_baseline(baseline_path, "decode");

  auto model = random_gpu_model(preset);
  GenerateRequest req;
  req.prompt = random_tokens(prompt, model->config().vocab_size, 7);
  req.max_new_tokens = new_tokens;  // no stop tokens: always N new tokens, as min_new_tokens forces in the baseline
  const double total = median_device_seconds([&] { generate(*model, req); }, warmup, runs);
  GenerateRequest one_by_one = req;  // the same steps without the recorded graph: what the graph is worth
  one_by_one.record_decode_steps = false;
  const double total_one_by_one = median_device_seconds([&] { generate(*model, one_by_one); }, warmup, runs);
  KvCache cache = model->new_kv_cache(prompt);
  const double prefill = median_device_seconds(
      [&] {
        cache.length = 0;
        model->forward_step(req.prompt, cache);
      },
      warmup, runs);
  const double end_to_end = static_cast<double>(new_tokens) / total;
  const double decode_only = static_cast<double>(new_tokens - 1) / (total - prefill);

  std::printf("bench gpu-decode: %s on %s, greedy, batch 1, %lld-token prompt, %lld new tokens\n", preset.c_str(),
              gpu_name().c_str(), static_cast<long long>(prompt), static_cast<long long>(new_tokens));
  std::printf("  stepwise end to end        %10.0f tokens/s   (median of %lld runs, %.1f ms)\n", end_to_end,
              static_cast<long long>(runs), 1e3 * total);
  std::printf("  stepwise decode steps only %10.0f tokens/s   (%.3f ms per token; prefill %.2f ms)\n", decode_only,
              1e3 / decode_only, 1e3 * prefill);
  const double one_by_one_rate = static_cast<double>(new_tokens) / total_one_by_one;
  std::printf("  stepwise without graphs    %10.0f tokens/s   (steps' kernels launched one by one; graph %.2fx)\n",
              one_by_one_rate, end_to_end / one_by_one_rate);
  nlohmann::json result = {{"bench", "gpu-decode"},        {"preset", preset},         {"prompt", prompt},
                           {"new_tokens", new_tokens},     {"gpu", gpu_name()},        {"tokens_per_s", end_to_end},
                           {"decode_tokens_per_s", decode_only}, {"prefill_s", prefill},
                           {"tokens_per_s_without_graphs", one_by_one_rate}};
  if (!base.is_null()) {
    const double theirs = base.at("B1_tokens_per_s").get<double>();
    std::printf("  HF generate (PyTorch eager) %9.0f tokens/s   (%s, torch %s)   ratio %.2fx\n", theirs,
                base.value("gpu", "?").c_str(), base.value("torch", "?").c_str(), end_to_end / theirs);
    result["hf_tokens_per_s"] = theirs;
    result["ratio"] = end_to_end / theirs;
  }
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace

void add_bench_gpu_decode(CommandLine& cli, CLI::App& bench) {
  auto flags = std::make_shared<GpuDecodeFlags>();
  CLI::App& command = add_command(
      bench, "gpu-decode", "greedy decoding tokens/s of one sequence on the GPU vs HF generate",
      "stepwise bench gpu-decode --preset qwen3-0.6b --prompt 128 --new 256 --baseline hf_baseline.json",
      "A CUDA build on a GPU. bf16, random weights, batch 1: a prompt of P tokens, then N new tokens through the\n"
      "KV cache, timed end to end as hf_baseline.py times Hugging Face's generate(); also the decode steps alone.");
  add_preset_flag(command, flags->preset);
  at_least(command.add_option("--prompt", flags->prompt, "prompt tokens")->type_name("P"), 1);
  at_least(command.add_option("--new", flags->new_tokens, "new tokens")->type_name("N"), 2);
  add_timing_flags(command, "runs", flags->runs, flags->warmup);
  add_baseline_flag(command, flags->baseline_path);
  cli.on_run(command, [flags] { return bench_gpu_decode(*flags); });
}

}  // namespace stepwise::cli
