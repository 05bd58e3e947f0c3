// AdamW over the model's parameters, with global-norm gradient clipping (PyTorch semantics: decoupled weight
// decay on matrices only, bias-corrected moments, clip coefficient min(1, max_norm / (norm + 1e-6))), and its
// data-parallel side: gradients summed over the DP group by an all-reduce, or, with ZeRO-1, reduce-scattered so
// that each DP rank keeps optimizer state for 1/dp of the model's flat gradient block only and all-gathers the
// updated parameters after its step. State (f32 moments, and f32 master weights when the parameters are bf16)
// is one planned allocation.
//
// Per optimizer step (the trainer):
//   model.zero_grads();
//   for each micro-batch: model.forward_backward(batch, 1.0f / tokens);  // tokens: sum_over_dp(dp, local count)
//   model.finish_gradients();
//   const double norm = opt.reduce_gradients();
//   opt.step(lr, norm);
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "distributed/communicator.h"
#include "kernels/ops.h"
#include "model/parameters.h"
#include "model/qwen3.h"
#include "train/adamw_config.h"

namespace stepwise {

// L2 norm of all gradients of the model: shards are summed over the TP group, replicated tensors counted once.
double global_grad_norm(const std::vector<Parameter>& params, Communicator& tp);

class AdamW {
 public:
  // Every parameter of this process, no data parallelism: the caller passes global_grad_norm() to step().
  AdamW(std::vector<Parameter>& params, const AdamWConfig& config);
  // Data parallel over `dp` (the model's TP group comes from the model). ZeRO-1 needs the model built with
  // ModelOptions::flat_block_multiple = dp.size(), so that its flat blocks split evenly.
  AdamW(Qwen3Model& model, const AdamWConfig& config, Communicator& dp, bool zero1);

  // After the last micro-batch's backward and model.finish_gradients(): sums the gradients over DP (all of them, or
  // with ZeRO-1 this rank's slice) and returns the global norm before clipping: over every DP and TP shard,
  // replicated tensors once. Needs the data-parallel constructor.
  double reduce_gradients();
  // One step at learning rate `lr`: clips by `grad_norm`, updates this rank's parameters (ZeRO-1: its slice, then
  // all-gathers every parameter over DP). Returns the clip coefficient applied to the gradients.
  float step(float lr, double grad_norm);
  int64_t steps_taken() const { return step_; }

  // Checkpoints of this rank's optimizer state: 1-D f32 tensors named "m.<parameter>", "v.<parameter>" (and
  // "master.<parameter>" for bf16 parameters), or "m.<parameter>[<begin>:<end>]" for the flat element range of a
  // parameter that a ZeRO-1 slice holds. The tensors are live views: copy into them to restore.
  std::vector<std::pair<std::string, Tensor>> state_tensors() const;
  // step, dp_rank, dp_size, zero1: what a resume must match.
  std::map<std::string, std::string> state_metadata() const;
  // One safetensors file per rank (written atomically), and its exact restore on the same TP x DP layout;
  // a file from another layout is INVALID_ARGUMENT naming the file and both layouts.
  void save_state(const std::string& path) const;
  void load_state(const std::string& path);

 private:
  // The elements [begin, end) of a parameter (flattened) that this rank updates, as 1-D views.
  struct Segment {
    Parameter* param;
    int64_t begin, end;
    Tensor grad, value;
    Tensor m, v, master;  // master: f32 copy when the parameter is not f32 (else undefined)
    Tensor copy_to;       // non-f32 parameters: where the updated weights go in their dtype
  };
  void plan_state(int64_t shard_begin, int64_t shard_end, const Tensor& params_flat);

  std::vector<Parameter>* params_;
  AdamWConfig config_;
  Communicator *tp_ = nullptr, *dp_ = nullptr;  // null: the parameters-only constructor
  bool zero1_ = false;
  Tensor grad_block_;    // the model's flat gradient block (data-parallel constructor)
  Tensor gather_block_;  // ZeRO-1: flat parameters in the gradient block's layout, all-gathered after each step
  std::vector<Segment> segments_;
  int64_t step_ = 0;
  std::shared_ptr<void> block_;
};

}  // namespace stepwise
