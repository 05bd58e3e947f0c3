// Where `stepwise eval run` and `stepwise distill` get completions: a model folder loaded in this process (the
// serving engine on the CPU) or a stepwise server over gRPC (any device, any TP size). The flags that choose one,
// and the sources themselves.
#pragma once

#include <memory>
#include <string>

#include "cli/command_line.h"
#include "cli/connection_flags.h"
#include "eval/completion_source.h"
#include "infer/engine.h"

namespace stepwise::cli {

struct CompletionSourceFlags {
  std::string model_dir, tokenizer_dir, served_model;
  Connection connection;
  EngineOptions engine;
  kernels::CpuAccumulation accumulation = kernels::CpuAccumulation::kFloat32;
  const CLI::Option* server = nullptr;  // --server, to tell whether it was given
  bool use_server = false;              // chosen otherwise (distill's --teacher ADDR)
};

// --model DIR [--tokenizer DIR] [engine flags] | --server ADDR [--served-model NAME] [connection flags].
void add_completion_source_flags(CLI::App& command, CompletionSourceFlags& flags);
// INVALID_ARGUMENT unless exactly one of --model and --server was given.
std::unique_ptr<CompletionSource> open_completion_source(const CompletionSourceFlags& flags);

}  // namespace stepwise::cli
