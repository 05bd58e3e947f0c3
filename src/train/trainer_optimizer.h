// Every use the SFT trainer makes of the optimizer (train/adamw.h), in one place: building it for the run's
// TP x DP layout, one optimizer step (the data-parallel gradient reduction, the global gradient norm, the skip of
// a non-finite step, the update), and its state in checkpoints. When the optimizer API changes, this file is
// the one to adapt.
#pragma once

#include <memory>
#include <string>

#include "distributed/process_grid.h"
#include "model/qwen3.h"
#include "train/adamw.h"
#include "train/train_config.h"

namespace stepwise {

struct OptimizerStepResult {
  double grad_norm = 0;  // global, before clipping (over every TP and DP shard)
  bool applied = false;  // false: the loss or the gradients were not finite, the weights are unchanged
};

class TrainerOptimizer {
 public:
  TrainerOptimizer(Qwen3Model& model, const OptimizerSection& config, ProcessGrid& grid, bool zero1);

  // After the last micro-batch's backward pass of a step: completes and reduces the gradients and updates the
  // weights at learning rate `lr`, unless `loss_finite` is false or the gradient norm is not finite. Every rank
  // reaches the same decision (the norm and the loss are global).
  OptimizerStepResult step(double lr, bool loss_finite);

  // This rank's optimizer state as one file (its shard under ZeRO-1), and its exact restore.
  void save(const std::string& path) const;
  void load(const std::string& path);

 private:
  Qwen3Model& model_;
  std::unique_ptr<AdamW> adamw_;
};

}  // namespace stepwise
