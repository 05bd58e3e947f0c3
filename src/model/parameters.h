// The model's parameters: the weight tensors the forward pass uses (Qwen3Weights, with gate and up fused into
// one matrix) and the same tensors listed by their Hugging Face names with how this rank's shard sits in the
// full tensor (Parameter). Values, gradients and (in the optimizer) moments are each one planned allocation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/arena.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "io/safetensors.h"
#include "model/qwen3_partition.h"

namespace stepwise {

// This rank's part of each weight (shapes and splits: model/qwen3_partition.h).
struct LayerWeights {
  Tensor input_norm;   // [D]
  Tensor q_proj;       // [Hq_local * hd, D]
  Tensor k_proj;       // [Hkv_local * hd, D]
  Tensor v_proj;       // [Hkv_local * hd, D]
  Tensor q_norm;       // [hd]
  Tensor k_norm;       // [hd]
  Tensor o_proj;       // [D, Hq_local * hd]
  Tensor post_norm;    // [D]
  Tensor gate_up;      // [2 * F_local, D]: gate rows then up rows
  Tensor down_proj;    // [D, F_local]
};

struct Qwen3Weights {
  Tensor embed;       // [V_local, D]
  std::vector<LayerWeights> layers;
  Tensor final_norm;  // [D]
  Tensor lm_head;     // [V_local, D]; the same tensor as embed when tied
};

// Plans every weight of the model in qwen3_tensor_specs() order (tied: lm_head aliases embed after allocation).
void plan_weights(ArenaPlan& plan, Qwen3Weights& w, const Qwen3Config& config, const Qwen3LocalDims& dims,
                  DType dtype);
void tie_weights(Qwen3Weights& w, const Qwen3Config& config);

struct Parameter {
  std::string name;      // Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight"
  Tensor value;          // this rank's shard (compute dtype, on the model's device)
  Tensor grad;           // f32, same shape
  Shape full_shape;      // shape of the unsharded tensor
  int shard_dim = -1;    // -1: replicated on every TP rank; 0 / 1: split along rows / columns
  int64_t shard_start = 0;
  bool grad_partial_over_tp = false;  // per-head norms: each rank holds a partial sum of the gradient

  bool weight_decay() const { return full_shape.size() >= 2; }  // AdamW decays matrices only
};

// The parameters in Hugging Face order, each pairing a value with its gradient.
std::vector<Parameter> list_parameters(const Qwen3Weights& values, const Qwen3Weights& grads,
                                       const Qwen3Config& config, const Qwen3LocalDims& dims);

// Reads each parameter's shard from a checkpoint (only its own slice). Missing tensors or shapes that differ from
// the config are INVALID_ARGUMENT naming the checkpoint and tensor. A tied model ignores lm_head.weight.
void load_parameters(std::vector<Parameter>& params, const SafetensorsCheckpoint& ckpt);
// Hugging Face's initialisation: matrices ~ N(0, std), norms = 1. The full tensor is drawn from a generator seeded
// by (seed, name) and this rank keeps its slice, so every TP layout starts from the same model.
void init_parameters(std::vector<Parameter>& params, uint64_t seed, float std);
// Stores this rank's slice of a parameter's full tensor (f32 on the host, p.full_shape) into p.value.
void store_full(Parameter& p, const Tensor& full_f32);

}  // namespace stepwise
