// A Hugging Face folder of arbitrary size with deterministic, non-constant weights, for the conversion benchmark and
// the memory test: the shape comes from a Qwen3 config, the values from a cheap formula (no model is ever built), and
// the shards are written one at a time, so making a model of many GB takes no more memory than one shard's tensor.
#pragma once

#include <cstdint>
#include <string>

#include "io/hf_config.h"

namespace stepwise {

// config.json, model-0000i-of-0000n.safetensors (at most shard_bytes each, f32) and the index. Returns the bytes of
// weights written.
int64_t write_synthetic_hf_model(const std::string& dir, const Qwen3Config& config, int64_t shard_bytes);

// A Qwen3 config whose f32 weights take about `bytes` (hidden 1024, 8 heads of 128, a 64k vocabulary, untied;
// layers added until the size is reached).
Qwen3Config synthetic_qwen3_config(int64_t bytes);

}  // namespace stepwise
