// CPU reference kernels (fp32, OpenMP + OpenBLAS): same signatures as kernels/ops.h, without the
// operand checks the dispatcher already did. These define what the CUDA kernels must compute.
#pragma once

#include "kernels/ops.h"

namespace stepwise::kernels::cpu {

// Loops over fewer elements than this run on one thread: an OpenMP fork/join costs microseconds (far more when
// cores are shared), which would dominate small ops such as a decode step's.
constexpr int64_t kParallelMinWork = int64_t{1} << 15;

void matmul(Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, float alpha, float beta);
void rmsnorm_forward(Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, float eps);
void rmsnorm_backward(Tensor& dx, Tensor& dw, const Tensor& dy, const Tensor& x, const Tensor& w,
                      const Tensor& rstd, bool accumulate_dx);
void rope_apply(Tensor& x, const Tensor& positions, const Tensor& table, bool inverse);
void attention_forward(Tensor& out, Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const SeqLayout& seqs, float scale);
void attention_backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout, const Tensor& q, const Tensor& k,
                        const Tensor& v, const Tensor& out, const Tensor& lse, const SeqLayout& seqs, float scale);
void swiglu_forward(Tensor& out, const Tensor& gate_up);
void swiglu_backward(Tensor& dgate_up, const Tensor& dout, const Tensor& gate_up);
void embedding_forward(Tensor& out, const Tensor& table, const Tensor& ids, int64_t vocab_start);
void embedding_backward(Tensor& dtable, const Tensor& dout, const Tensor& ids, int64_t vocab_start);
void cross_entropy_row_max(Tensor& row_max, const Tensor& logits);
void cross_entropy_sum_exp(Tensor& sum_exp, Tensor& target_logit, const Tensor& logits, const Tensor& row_max,
                           const Tensor& targets, int64_t vocab_start);
void cross_entropy_backward(Tensor& logits, const Tensor& row_max, const Tensor& sum_exp, const Tensor& targets,
                            int64_t vocab_start, float grad_scale);
void add(Tensor& y, const Tensor& x, float alpha);
double sum_squares(const Tensor& x);
void scale(Tensor& x, float alpha);
void convert(Tensor& dst, const Tensor& src);
void adamw_step(Tensor& master, const Tensor& grad, Tensor& m, Tensor& v, Tensor* param_copy, const AdamWHyper& hp,
                int64_t step, float grad_scale);

}  // namespace stepwise::kernels::cpu
