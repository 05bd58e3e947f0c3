// The attention kernels behind cuda::attention_forward / attention_backward (attention.cpp chooses among them):
//   flash  — bf16 tensor-core kernels (mma.sync) for head_dim 64 and 128, tiled with an online softmax so that no
//            T x T matrix exists (attention_flash_fwd.cu, attention_flash_bwd.cu);
//   rowwise — any head_dim up to 256, f32 or bf16, one block per query (or key) row (attention_rowwise.cu): the
//            precise f32 path, small test models, and decoding, where a step has one query per sequence.
// All take the varlen layout of kernels/ops.h (cu_q, cu_k on the device; causal with queries aligned to the end of
// their keys) and grouped-query heads; none uses atomics, so results are the same run to run.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace stepwise::kernels::cuda {

struct AttentionArgs {
  const void* q;  // [nq, hq, hd]
  const void* k;  // [nk, hkv, hd]
  const void* v;  // [nk, hkv, hd]
  const int32_t* cu_q;
  const int32_t* cu_k;
  int64_t nq, nk;
  int seqs, hq, hkv, hd;
  int64_t max_q, max_k;  // longest query and key sequences (host-side: they size the flash grids)
  float scale;
};

struct AttentionGrads {
  const void* dout;  // [nq, hq, hd]
  const void* out;
  const float* lse;   // [nq, hq]
  float* dsum;        // [nq, hq] scratch: D_i = dout_i . out_i
  void* dq;
  void* dk;
  void* dv;
};

constexpr int kRowwiseMaxHeadDim = 256;
// log2(e): the flash kernels keep softmax statistics in base 2 (exp2f) and the lse in natural units.
constexpr float kLog2e = 1.4426950408889634f;

void flash_attention_forward(const AttentionArgs& a, void* out, float* lse);  // bf16, hd 64 or 128
void flash_attention_backward(const AttentionArgs& a, const AttentionGrads& g);
void rowwise_attention_forward(const AttentionArgs& a, DType dtype, void* out, float* lse);
void rowwise_attention_backward(const AttentionArgs& a, DType dtype, const AttentionGrads& g);
// Shared by both backward paths: D = rowsum(dout * out), and zero dk/dv rows past cu_k[seqs] (no sequence owns
// them, and the kernels only write the rows of their sequences).
void attention_backward_prepare(const AttentionArgs& a, DType dtype, const AttentionGrads& g);

}  // namespace stepwise::kernels::cuda
