// The flags of the commands that run the serving engine (generate, serve, worker, bench serve): per-request sampling and the
// engine's KV cache and batching limits, each named as the gRPC API names the field.
#pragma once

#include <CLI/CLI.hpp>

#include "infer/engine.h"

namespace stepwise::cli {

// --temperature --top-k --top-p --min-p --repetition-penalty --presence-penalty --frequency-penalty --seed --logprobs
void add_sampling_flags(CLI::App& command, SamplingParams& sampling);
// --kv-cache-mb --block-size --max-tokens-per-step --max-sequences --max-prefill-chunk
void add_engine_flags(CLI::App& command, EngineOptions& options);
// --accumulation float64|float32: the CPU backend's matmul and attention sums (serve, worker)
void add_accumulation_flag(CLI::App& command, kernels::CpuAccumulation& accumulation);

}  // namespace stepwise::cli
