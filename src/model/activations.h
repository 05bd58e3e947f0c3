// Activations of the Qwen3 forward pass and the scratch of its backward pass, planned for a capacity of tokens.
// Training keeps one LayerActivations per layer (the backward pass reads them); inference reuses one for all
// layers. Every tensor's leading dimension is the token, so a smaller batch is a row slice (first()).
#pragma once

#include <vector>

#include "core/arena.h"
#include "model/qwen3_partition.h"

namespace stepwise {

struct LayerActivations {
  Tensor ln1, ln1_rstd;  // input RMSNorm output [N, D] and 1/rms [N]
  Tensor q, q_rstd;      // q projection before its per-head norm [N, Hq*hd]; [N, Hq]
  Tensor k, k_rstd;      // [N, Hkv*hd]; [N, Hkv]
  Tensor v;              // [N, Hkv*hd]
  Tensor qr, kr;         // q and k after per-head norm and rotary embedding
  Tensor attn, lse;      // attention output [N, Hq*hd]; log-sum-exp [N, Hq]
  Tensor mid;            // residual stream after attention [N, D]
  Tensor ln2, ln2_rstd;  // post-attention RMSNorm
  Tensor gate_up;        // [N, 2F]
  Tensor act;            // silu(gate) * up [N, F]

  LayerActivations first(int64_t n) const;
};

struct BackwardScratch {
  Tensor d_resid, d_ln;  // [N, D]
  Tensor d_attn, d_q;    // [N, Hq*hd]
  Tensor d_k, d_v;       // [N, Hkv*hd]
  Tensor d_gate_up;      // [N, 2F]
  Tensor d_act;          // [N, F]

  BackwardScratch first(int64_t n) const;
};

struct ForwardBuffers {
  int64_t capacity = 0;
  std::vector<LayerActivations> layers;  // one per layer (training) or one shared (inference)
  std::vector<Tensor> resid;             // residual stream between layers: L + 1 (training) or 2 (inference)
  Tensor final_norm, final_rstd;         // [N, D], [N]
  BackwardScratch grads;                 // planned for training only
  std::shared_ptr<void> block;

  LayerActivations layer(int64_t l, int64_t n) const { return layers[l % layers.size()].first(n); }
  Tensor resid_at(int64_t l, int64_t n) const { return resid[l % resid.size()].rows(0, n); }
};

// One allocation holding everything for `capacity` tokens. `training` keeps every layer's input and the backward
// scratch, and every layer's activations unless `recompute` (then one slot, refilled layer by layer in backward).
ForwardBuffers plan_forward_buffers(const Qwen3LocalDims& dims, int64_t capacity, bool training, bool recompute,
                                    DType dtype, Device device);

}  // namespace stepwise
