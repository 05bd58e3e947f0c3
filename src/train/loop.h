// The SFT loop: micro-batches with gradient accumulation, the loss normalised by the unmasked tokens of the whole
// optimizer step (all micro-batches and all DP ranks), AdamW with warmup + decay and clipping (through
// train/trainer_optimizer.h), eval loss on a held-out set, skipping of non-finite steps, checkpoints with exact
// resume, progress lines, metrics.jsonl and the loss curve (loss_curve.svg) in the run directory.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "distributed/process_grid.h"
#include "model/qwen3.h"
#include "train/train_config.h"

namespace stepwise {

struct RunOptions {
  bool resume = false;           // continue from the newest complete checkpoint of run.output_dir
  int64_t stop_after_steps = 0;  // end this invocation (with a checkpoint) after so many steps; 0: run to the end
  std::FILE* log = stdout;       // progress lines (rank 0); null: none
  std::string log_prefix;        // before every line (runs side by side on one stream)
};

struct StepRecord {
  int64_t step = 0;  // 1-based: the optimizer step just completed
  double loss = 0, lr = 0, grad_norm = 0;
  int64_t tokens = 0;  // all positions of the step's micro-batches, all DP ranks
  bool skipped = false;
};

struct EvalRecord {
  int64_t step = 0;
  double loss = 0;
  int64_t tokens = 0;  // unmasked targets
};

struct TrainResult {
  ProcessGrid grid;  // before the model: its communicators outlive it
  std::unique_ptr<Qwen3Model> model;
  std::vector<StepRecord> steps;  // this invocation's
  std::vector<EvalRecord> evals;
  int64_t first_step = 0, final_step = 0, total_steps = 0;
  double train_seconds = 0;  // forward, backward and optimizer time of this invocation
  int64_t train_tokens = 0;  // tokens of this invocation's steps, all ranks
  std::string last_checkpoint;
};

TrainResult run_sft(const TrainConfig& config, const RunOptions& options);

// The parallel layout of a run: the one place where tp / dp sizes are checked against the launch.
ProcessGrid make_training_grid(const RunSection& run);

// Forward and backward over this rank's micro-batches of one optimizer step; gradients accumulate (+=) the
// gradient of (sum of token losses) / (unmasked tokens of the step over every micro-batch and DP rank). Returns
// the loss sum and target count over all DP ranks, and the step's tokens (all positions, all DP ranks).
struct StepLoss {
  LossSum loss;
  int64_t tokens = 0;
};
StepLoss accumulate_gradients(Qwen3Model& model, const std::vector<TokenBatch>& micro_batches, Communicator& dp);

// Mean loss over batches (no gradients), summed over DP ranks.
LossSum evaluate_loss(Qwen3Model& model, const std::vector<TokenBatch>& batches, Communicator& dp);

}  // namespace stepwise
