// The trainer's side of the optimizer API: data-parallel AdamW with an optional ZeRO-1 state shard.
#include "train/trainer_optimizer.h"

#include <cmath>

namespace stepwise {

TrainerOptimizer::TrainerOptimizer(Qwen3Model& model, const OptimizerSection& config, ProcessGrid& grid, bool zero1)
    : model_(model) {
  adamw_ = std::make_unique<AdamW>(model, config.adamw, *grid.dp, zero1);
}

OptimizerStepResult TrainerOptimizer::step(double lr, bool loss_finite) {
  model_.finish_gradients();
  OptimizerStepResult r;
  r.grad_norm = adamw_->reduce_gradients();
  r.applied = loss_finite && std::isfinite(r.grad_norm);
  if (r.applied) adamw_->step(static_cast<float>(lr), r.grad_norm);
  return r;
}

void TrainerOptimizer::save(const std::string& path) const { adamw_->save_state(path); }

void TrainerOptimizer::load(const std::string& path) { adamw_->load_state(path); }

}  // namespace stepwise
