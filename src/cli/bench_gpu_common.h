// Shared by the GPU benchmarks (bench_gpu_train.cpp, bench_gpu_decode.cpp, bench_gpu_prefill.cpp): device timing
// with CUDA events, the PyTorch baseline measured by hf_baseline.py in the same run on the same card, the FLOP count
// that baseline uses for MFU, and random-weight models and tokens.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/qwen3.h"

namespace stepwise::cli {

// Fails with a clear message in a build without the CUDA backend or on a machine without a GPU.
void require_gpu(const char* bench);
std::string gpu_name();

// Runs fn `warmup` times untimed, then `iters` times between CUDA events on the kernels' stream; returns the median
// seconds. fn may synchronise (decoding copies logits to the host); the events still bracket exactly its work.
double median_device_seconds(const std::function<void()>& fn, int64_t warmup, int64_t iters);

// The measurement `key` ("sft_eager", "prefill", "decode", ...) from the JSON that `hf_baseline.py --out` wrote;
// null when `path` is empty. A missing file or key is an error naming both.
nlohmann::json load_baseline(const std::string& path, const std::string& key);

// Training FLOPs per token at sequence length `seq`, as hf_baseline.py counts them: 6N plus
// causal attention 6 * layers * heads * head_dim * seq. The LM head counts once (the embedding is a lookup).
double train_flops_per_token(const Qwen3Config& config, int64_t seq);
constexpr double kH100BF16PeakFlops = 989e12;  // dense bf16 tensor-core peak of an H100/H200 SXM (MFU denominator)

// A bf16 model on the GPU with Hugging Face's random initialisation (seed 0).
std::unique_ptr<Qwen3Model> random_gpu_model(const std::string& preset, bool recompute = false);
std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed);

}  // namespace stepwise::cli
