// `stepwise bench gpu-decode`: greedy generation of one sequence on the GPU (bf16, random weights): a prompt of P
// tokens, then N new tokens through the KV cache, timed end to end as Hugging Face's generate() is timed by
// hf_baseline.py (B=1, same P and N), plus the decode steps alone (prefill subtracted).
#include <cstdio>

#include "cli/args.h"
#include "cli/bench_gpu_common.h"
#include "cli/benchmarks.h"
#include "core/status.h"
#include "infer/generate.h"

namespace stepwise::cli {

int bench_gpu_decode(int argc, char** argv) {
  Args args(argc, argv);
  const std::string preset = args.get_or("preset", "qwen3-0.6b");
  const int64_t prompt = args.get_int("prompt", 128), new_tokens = args.get_int("new", 256);
  const int64_t runs = args.get_int("runs", 3), warmup = args.get_int("warmup", 1);
  const std::string baseline_path = args.get_or("baseline", "");
  args.finish();
  if (prompt < 1 || new_tokens < 2 || runs < 1 || warmup < 0)
    invalid_argument("bench gpu-decode: --prompt and --runs must be positive, --new at least 2, --warmup >= 0");
  require_gpu("gpu-decode");
  const nlohmann::json base = load_baseline(baseline_path, "decode");

  auto model = random_gpu_model(preset);
  GenerateRequest req;
  req.prompt = random_tokens(prompt, model->config().vocab_size, 7);
  req.max_new_tokens = new_tokens;  // no stop tokens: always N new tokens, as min_new_tokens forces in the baseline
  const double total = median_device_seconds([&] { generate(*model, req); }, warmup, runs);
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
  nlohmann::json result = {{"bench", "gpu-decode"},        {"preset", preset},         {"prompt", prompt},
                           {"new_tokens", new_tokens},     {"gpu", gpu_name()},        {"tokens_per_s", end_to_end},
                           {"decode_tokens_per_s", decode_only}, {"prefill_s", prefill}};
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

}  // namespace stepwise::cli
