// AdamW over the model's parameters, with global-norm gradient clipping (PyTorch semantics: decoupled weight
// decay on matrices only, bias-corrected moments, clip coefficient min(1, max_norm / (norm + 1e-6))).
// State (f32 moments, and f32 master weights when the parameters are bf16) is one planned allocation.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "distributed/communicator.h"
#include "kernels/ops.h"
#include "model/parameters.h"

namespace stepwise {

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;  // applied to tensors with ndim >= 2 only
  float clip_norm = 1.0f;     // <= 0 disables clipping
};

// L2 norm of all gradients of the model: shards are summed over the TP group, replicated tensors counted once.
double global_grad_norm(const std::vector<Parameter>& params, Communicator& tp);

class AdamW {
 public:
  AdamW(std::vector<Parameter>& params, const AdamWConfig& config);

  // One step at learning rate `lr`: clips by `grad_norm` (from global_grad_norm), updates every parameter.
  // Returns the clip coefficient applied to the gradients.
  float step(float lr, double grad_norm);
  int64_t steps_taken() const { return step_; }

  // Optimizer state for checkpoints: per parameter, m then v (and master weights when kept), same order as params.
  std::vector<std::pair<std::string, Tensor>> state_tensors();
  void set_steps_taken(int64_t step) { step_ = step; }

 private:
  struct Slot {
    Parameter* param;
    Tensor m, v, master;  // master undefined when the parameter itself is f32
  };
  std::vector<Slot> slots_;
  AdamWConfig config_;
  int64_t step_ = 0;
  std::shared_ptr<void> block_;
};

}  // namespace stepwise
