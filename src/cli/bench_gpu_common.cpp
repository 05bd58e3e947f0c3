// GPU benchmark helpers: CUDA-event timing, the hf_baseline.py results, FLOP counts, random models and tokens.
#include "cli/bench_gpu_common.h"

#include <algorithm>
#include <fstream>

#include "core/memory.h"
#include "core/rng.h"
#include "core/status.h"

#ifdef STEPWISE_HAS_CUDA
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_context.h"
#endif

namespace stepwise::cli {

void require_gpu(const char* bench) {
#ifndef STEPWISE_HAS_CUDA
  fail(StatusCode::kFailedPrecondition, "bench ", bench, " needs the CUDA backend: this build has none (configure ",
       "with -DSTEPWISE_CUDA=ON on a machine with nvcc)");
#else
  if (!cuda_available())
    fail(StatusCode::kFailedPrecondition, "bench ", bench, " needs a CUDA GPU and none is visible (check nvidia-smi)");
#endif
}

std::string gpu_name() {
#ifdef STEPWISE_HAS_CUDA
  int device = 0;
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return prop.name;
#else
  return "none";
#endif
}

double median_device_seconds(const std::function<void()>& fn, int64_t warmup, int64_t iters) {
#ifdef STEPWISE_HAS_CUDA
  for (int64_t i = 0; i < warmup; ++i) fn();
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> times;
  for (int64_t i = 0; i < iters; ++i) {
    CUDA_CHECK(cudaEventRecord(start, kernels::cuda::stream()));
    fn();
    CUDA_CHECK(cudaEventRecord(stop, kernels::cuda::stream()));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms / 1e3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
#else
  (void)fn, (void)warmup, (void)iters;
  require_gpu("timing");
  return 0;
#endif
}

nlohmann::json load_baseline(const std::string& path, const std::string& key) {
  if (path.empty()) return nullptr;
  std::ifstream in(path);
  if (!in) invalid_argument("--baseline ", path, ": cannot open (write it with hf_baseline.py --out ", path, ")");
  nlohmann::json all;
  try {
    all = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    invalid_argument("--baseline ", path, ": not JSON (", e.what(), ")");
  }
  if (!all.contains(key))
    invalid_argument("--baseline ", path, " has no '", key, "' measurement; run hf_baseline.py with --only ", key);
  nlohmann::json out = all[key];
  out["gpu"] = all.value("gpu", "unknown");
  out["torch"] = all.value("torch", "unknown");
  return out;
}

double train_flops_per_token(const Qwen3Config& c, int64_t seq) {
  const double d = static_cast<double>(c.hidden_size), hd = static_cast<double>(c.head_dim);
  const double heads = static_cast<double>(c.num_heads), kv = static_cast<double>(c.num_kv_heads);
  const double ff = static_cast<double>(c.intermediate_size), layers = static_cast<double>(c.num_layers);
  const double per_layer = d * heads * hd + 2 * d * kv * hd + heads * hd * d + 3 * d * ff;
  const double head = static_cast<double>(c.vocab_size) * d;  // the LM head's matmul (the embedding is a lookup)
  return 6 * (layers * per_layer + head) + 6 * layers * heads * hd * static_cast<double>(seq);
}

std::unique_ptr<Qwen3Model> random_gpu_model(const std::string& preset, bool recompute) {
  ModelOptions options;
  options.device = Device::kCUDA;
  options.compute_dtype = DType::kBF16;
  options.recompute_activations = recompute;
  auto model = std::make_unique<Qwen3Model>(qwen3_preset(preset), options);
  model->init_random(0);
  return model;
}

std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
  return t;
}

}  // namespace stepwise::cli
