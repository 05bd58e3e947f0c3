// The kernel interface: every numerical op of the model, optimizer and loss, forward and backward.
// Each op has a CPU reference (kernels/cpu, fp32) and a CUDA kernel (kernels/cuda, bf16/fp32) with the
// same signature; these wrappers check the operands and dispatch on their device. All operands of one
// call live on one device. Tensors are contiguous and row-major; "[N, D]" names their shapes.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace stepwise::kernels {

// How CPU matmuls and attention accumulate: in f64 (the reference: f32 results that do not depend on which BLAS
// kernels run, within f32 precision of a float64 computation) or in f32 (OpenBLAS sgemm: about twice the rate, for
// runs that need no reference, such as the demo). Set per thread for the ops that thread calls (a model scopes it to
// its passes, from ModelOptions::cpu_accumulation); the CUDA kernels always accumulate in f32.
enum class CpuAccumulation { kFloat64, kFloat32 };
CpuAccumulation cpu_accumulation();
class ScopedCpuAccumulation {
 public:
  explicit ScopedCpuAccumulation(CpuAccumulation accumulation);
  ~ScopedCpuAccumulation();
  ScopedCpuAccumulation(const ScopedCpuAccumulation&) = delete;
  ScopedCpuAccumulation& operator=(const ScopedCpuAccumulation&) = delete;

 private:
  CpuAccumulation saved_;
};

// C[M, N] = alpha * op(A) @ op(B) + beta * C, op(X) = X or X^T. A, B: 2-D. On the CPU all f32; on CUDA
// A and B are bf16 or f32 (same dtype) and C is f32 or bf16, accumulating in f32. beta = 1 accumulates
// (weight gradients over micro-batches).
void matmul(Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, float alpha = 1.0f,
            float beta = 0.0f);

// Linear layer y[N, out] = x[N, in] @ w[out, in]^T, and its two backward products.
inline void linear_forward(Tensor& y, const Tensor& x, const Tensor& w) { matmul(y, x, false, w, true); }
// dx[N, in] (= or +=) dy[N, out] @ w[out, in]
inline void linear_backward_input(Tensor& dx, const Tensor& dy, const Tensor& w, bool accumulate) {
  matmul(dx, dy, false, w, false, 1.0f, accumulate ? 1.0f : 0.0f);
}
// dw[out, in] += dy[N, out]^T @ x[N, in]
inline void linear_backward_weight(Tensor& dw, const Tensor& dy, const Tensor& x) {
  matmul(dw, dy, true, x, false, 1.0f, 1.0f);
}

// RMSNorm over the last dimension: y = x / sqrt(mean(x^2) + eps) * w. x, y: [N, D]; w: [D];
// rstd: f32 [N], saved for backward.
void rmsnorm_forward(Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, float eps);
// dx (= or +=) d/dx, dw += d/dw. dx may alias dy when not accumulating.
void rmsnorm_backward(Tensor& dx, Tensor& dw, const Tensor& dy, const Tensor& x, const Tensor& w,
                      const Tensor& rstd, bool accumulate_dx);

// The residual add fused with the RMSNorm that follows it (one pass over the row instead of three):
// sum += x, then y = rmsnorm(sum) * w with rstd saved, all [N, D] (w [D]). The norm reads sum as stored (rounded to
// its dtype), so the result is the unfused add + rmsnorm_forward's.
void add_rmsnorm_forward(Tensor& sum, Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, float eps);

// Rotary embedding in place, Hugging Face "split halves" layout: for i < hd/2,
// (x_i, x_{i+hd/2}) rotates by angle pos * theta^(-2i/hd). x: [N, H, hd]; positions: i32 [N];
// table: f32 [max_pos, hd] holding cos for the first hd/2 entries and sin for the rest (rope_table).
// inverse rotates by the negative angle (the backward of the forward).
void rope_apply(Tensor& x, const Tensor& positions, const Tensor& table, bool inverse);
// The cos/sin table on the CPU (every backend uses these values), computed as Hugging Face does: inv_freq in f32,
// then rounded to `inv_freq_dtype` (Hugging Face keeps inv_freq as a buffer in the model's dtype, so a bf16
// checkpoint rotates by bf16-rounded frequencies), angle = f32(pos) * inv_freq in f32, cos/sin rounded to f32.
Tensor rope_table(int64_t max_positions, int64_t head_dim, double theta, DType inv_freq_dtype);

// Qwen3's per-head q/k normalisation and rotary embedding as one pass: y[N, H, hd] = rope(rmsnorm(x) * w), with
// rstd f32 [N * H] saved for the backward (rmsnorm_backward, rope_apply inverse). The normalised value is rounded
// to y's dtype before the rotation, so the result is rmsnorm_forward then rope_apply's.
void head_norm_rope_forward(Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, const Tensor& positions,
                            const Tensor& table, float eps);

// Packed sequences in the flash-attention "varlen" layout: sequence s owns query rows
// [cu_q[s], cu_q[s+1]) and key rows [cu_k[s], cu_k[s+1]). Causal with the queries aligned to the end of
// the keys: query i (0-based within its sequence of Lq) sees keys j <= i + (Lk - Lq). Training has
// Lq == Lk; a KV-cache step has Lq new tokens against Lk cached ones.
struct SeqLayout {
  Tensor cu_q;  // i32 [S + 1], on the op's device
  Tensor cu_k;  // i32 [S + 1]
  int64_t max_q = 0;
  int64_t max_k = 0;
};

// out[Nq, Hq, hd] = softmax(q k^T * scale) v, grouped-query (Hq a multiple of Hkv).
// k, v: [Nk, Hkv, hd]; lse: f32 [Nq, Hq] (log-sum-exp of the scaled scores, saved for backward).
void attention_forward(Tensor& out, Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const SeqLayout& seqs, float scale);
// dq, dk, dv are overwritten.
void attention_backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout, const Tensor& q, const Tensor& k,
                        const Tensor& v, const Tensor& out, const Tensor& lse, const SeqLayout& seqs, float scale);

// The serving engine's paged KV cache: each layer's keys and values live in one pool of fixed-size blocks,
// k_pool / v_pool [num_blocks * block_size, Hkv, hd]; a sequence's keys are the rows of the blocks its block table
// lists, in order (slot = block * block_size + offset). Sequence s of a step owns query rows [cu_q[s], cu_q[s+1]):
// its newest tokens, the last Lq of its seq_lens[s] keys (already written to the pool), so causality is as in
// SeqLayout with Lk = seq_lens[s].
struct PagedLayout {
  Tensor cu_q;          // i32 [S + 1], on the op's device
  Tensor seq_lens;      // i32 [S]
  Tensor block_tables;  // i32 [S, max_blocks]: row s lists sequence s's blocks (entries past its length unused)
  int64_t block_size = 0;
  int64_t max_q = 0;  // the largest Lq and Lk, for the launch shapes
  int64_t max_k = 0;
};
// Scatter: k_pool[slots[i]] = k[i] and v_pool[slots[i]] = v[i]. k, v: [N, Hkv, hd]; slots: i32 [N].
void paged_kv_write(Tensor& k_pool, Tensor& v_pool, const Tensor& k, const Tensor& v, const Tensor& slots);
// out[Nq, Hq, hd] = softmax(q k^T * scale) v over each sequence's keys in the pool (causal, grouped-query).
void paged_attention_forward(Tensor& out, const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                             const PagedLayout& layout, float scale);

// SwiGLU on a fused projection: gate_up[N, 2F] holds gate in columns [0, F) and up in [F, 2F);
// out[N, F] = silu(gate) * up.
void swiglu_forward(Tensor& out, const Tensor& gate_up);
void swiglu_backward(Tensor& dgate_up, const Tensor& dout, const Tensor& gate_up);

// Vocab-parallel embedding: this rank holds rows [vocab_start, vocab_start + V_local) of the table.
// out[N, D] = table[id - vocab_start] for ids in range, 0 elsewhere (the TP all-reduce adds the ranks).
void embedding_forward(Tensor& out, const Tensor& table, const Tensor& ids, int64_t vocab_start);
// dtable[id - vocab_start] += dout for ids in range.
void embedding_backward(Tensor& dtable, const Tensor& dout, const Tensor& ids, int64_t vocab_start);

// Cross-entropy over vocab-parallel logits[N, V_local] (columns = vocab ids vocab_start..), in passes so
// that tensor parallelism can reduce the row statistics across ranks between them:
//   row_max[N] = max over the local logits            (then all-reduce MAX over the TP group)
//   sum_exp[N] = sum exp(logit - row_max); target_logit[N] = the target's logit if this rank holds it,
//                else 0; targets < 0 are masked        (then all-reduce SUM)
//   loss_i = log(sum_exp_i) + row_max_i - target_logit_i.
void cross_entropy_row_max(Tensor& row_max, const Tensor& logits);
void cross_entropy_sum_exp(Tensor& sum_exp, Tensor& target_logit, const Tensor& logits, const Tensor& row_max,
                           const Tensor& targets, int64_t vocab_start);
// In place: logits become d loss / d logits = (softmax - onehot(target)) * grad_scale; masked rows become 0.
void cross_entropy_backward(Tensor& logits, const Tensor& row_max, const Tensor& sum_exp, const Tensor& targets,
                            int64_t vocab_start, float grad_scale);

// Greedy decoding on the device: ids[r] (i32) = the first column of row r's largest value among the first
// `columns` of logits[N, V] (columns <= V: a padded vocabulary's tail is never chosen), so that a step copies N ids
// to the host instead of N whole rows. Ties go to the lowest column, as infer/sampler's argmax.
void argmax_rows(Tensor& ids, const Tensor& logits, int64_t columns);

// x += delta over an i32 tensor: a recorded decode step advances its positions and lengths on the device.
void increment(Tensor& x, int32_t delta);

// y += alpha * x (same shape).
void add(Tensor& y, const Tensor& x, float alpha = 1.0f);
// The sum of squares of each tensor's elements, in double on the host (gradient norms); tensors on one device. On
// the GPU the whole list costs one synchronisation (a model has hundreds of gradient tensors).
std::vector<double> sum_squares_each(const std::vector<Tensor>& xs);
// x *= alpha.
void scale(Tensor& x, float alpha);
// dst = src converted between float formats (f32/bf16/f16), same shape and device.
void convert(Tensor& dst, const Tensor& src);

// Every value is given by the caller (the optimizer's are in train/adamw_config.h): no defaults to disagree with.
struct AdamWHyper {
  float lr;
  float beta1;
  float beta2;
  float eps;
  float weight_decay;  // decoupled, applied as param *= 1 - lr * weight_decay
};
// One AdamW step on f32 master weights. grad is multiplied by grad_scale first (clipping); step counts
// from 1 (bias correction). When `param_copy` is defined (bf16 compute weights on the GPU) it receives the
// updated master weights in its own dtype.
void adamw_step(Tensor& master, const Tensor& grad, Tensor& m, Tensor& v, Tensor* param_copy, const AdamWHyper& hp,
                int64_t step, float grad_scale);

}  // namespace stepwise::kernels
