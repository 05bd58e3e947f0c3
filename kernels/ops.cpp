// Operand checks and device dispatch for kernels/ops.h. A shape or device mismatch here is a bug in the
// caller, so it is reported as an internal error naming the op and the operands.
#include "kernels/ops.h"

#include <cmath>
#include <vector>

#include "core/status.h"
#include "kernels/cpu/cpu_ops.h"
#ifdef STEPWISE_HAS_CUDA
#include "kernels/cuda/cuda_ops.h"
#endif

namespace stepwise::kernels {

namespace {

void same_device(const char* op, std::initializer_list<const Tensor*> ts) {
  const Device d = (*ts.begin())->device();
  for (const Tensor* t : ts)
    if (t->defined() && t->device() != d)
      fail(StatusCode::kInternal, op, ": operands on different devices (", (*ts.begin())->describe(), " and ",
           t->describe(), ")");
}

void expect_shape(const char* op, const char* name, const Tensor& t, const Shape& shape) {
  if (t.shape() != shape)
    fail(StatusCode::kInternal, op, ": ", name, " is ", t.describe(), ", expected shape ", shape_str(shape));
}

thread_local CpuAccumulation t_accumulation = CpuAccumulation::kFloat64;

}  // namespace

CpuAccumulation cpu_accumulation() { return t_accumulation; }

ScopedCpuAccumulation::ScopedCpuAccumulation(CpuAccumulation accumulation) : saved_(t_accumulation) {
  t_accumulation = accumulation;
}

ScopedCpuAccumulation::~ScopedCpuAccumulation() { t_accumulation = saved_; }

// The CUDA branch of every op; a CPU-only build reports what is missing.
#ifdef STEPWISE_HAS_CUDA
#define SW_DISPATCH(dev, op, ...) \
  ((dev) == Device::kCPU ? cpu::op(__VA_ARGS__) : cuda::op(__VA_ARGS__))
#else
#define SW_DISPATCH(dev, op, ...)                                                                           \
  ((dev) == Device::kCPU ? cpu::op(__VA_ARGS__)                                                            \
                         : fail(StatusCode::kFailedPrecondition, #op,                                       \
                                ": CUDA tensor but this build has no CUDA backend (-DSTEPWISE_CUDA=ON)"))
#endif

void matmul(Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, float alpha, float beta) {
  same_device("matmul", {&c, &a, &b});
  SW_CHECK(a.ndim() == 2 && b.ndim() == 2 && c.ndim() == 2, "matmul of ", a.describe(), " and ", b.describe());
  const int64_t m = trans_a ? a.size(1) : a.size(0), k = trans_a ? a.size(0) : a.size(1);
  const int64_t kb = trans_b ? b.size(1) : b.size(0), n = trans_b ? b.size(0) : b.size(1);
  if (k != kb || c.size(0) != m || c.size(1) != n)
    fail(StatusCode::kInternal, "matmul: ", a.describe(), (trans_a ? "^T" : ""), " @ ", b.describe(),
         (trans_b ? "^T" : ""), " into ", c.describe());
  SW_DISPATCH(c.device(), matmul, c, a, trans_a, b, trans_b, alpha, beta);
}

void rmsnorm_forward(Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, float eps) {
  same_device("rmsnorm_forward", {&y, &rstd, &x, &w});
  const int64_t n = x.size(0), d = x.size(1);
  expect_shape("rmsnorm_forward", "y", y, {n, d});
  expect_shape("rmsnorm_forward", "w", w, {d});
  expect_shape("rmsnorm_forward", "rstd", rstd, {n});
  SW_DISPATCH(x.device(), rmsnorm_forward, y, rstd, x, w, eps);
}

void rmsnorm_backward(Tensor& dx, Tensor& dw, const Tensor& dy, const Tensor& x, const Tensor& w,
                      const Tensor& rstd, bool accumulate_dx) {
  same_device("rmsnorm_backward", {&dx, &dw, &dy, &x, &w, &rstd});
  expect_shape("rmsnorm_backward", "dx", dx, x.shape());
  expect_shape("rmsnorm_backward", "dy", dy, x.shape());
  expect_shape("rmsnorm_backward", "dw", dw, w.shape());
  SW_DISPATCH(x.device(), rmsnorm_backward, dx, dw, dy, x, w, rstd, accumulate_dx);
}

namespace {
// x [N, H, hd] rotated by positions i32 [N] through a table of hd columns.
void check_rotary(const char* op, const Tensor& x, const Tensor& positions, const Tensor& table) {
  SW_CHECK(x.ndim() == 3 && positions.numel() == x.size(0) && table.size(1) == x.size(2) && x.size(2) % 2 == 0, op,
           " on ", x.describe(), " with positions ", positions.describe(), " and table ", table.describe());
  positions.check_dtype(DType::kI32);
  table.check_dtype(DType::kF32);
}
}  // namespace

void add_rmsnorm_forward(Tensor& sum, Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, float eps) {
  same_device("add_rmsnorm_forward", {&sum, &y, &rstd, &x, &w});
  SW_CHECK(sum.ndim() == 2, "add_rmsnorm_forward on ", sum.describe());
  const int64_t n = sum.size(0), d = sum.size(1);
  expect_shape("add_rmsnorm_forward", "x", x, {n, d});
  expect_shape("add_rmsnorm_forward", "y", y, {n, d});
  expect_shape("add_rmsnorm_forward", "w", w, {d});
  expect_shape("add_rmsnorm_forward", "rstd", rstd, {n});
  SW_DISPATCH(sum.device(), add_rmsnorm_forward, sum, y, rstd, x, w, eps);
}

void head_norm_rope_forward(Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, const Tensor& positions,
                            const Tensor& table, float eps) {
  same_device("head_norm_rope_forward", {&y, &rstd, &x, &w, &positions, &table});
  check_rotary("head_norm_rope_forward", x, positions, table);
  expect_shape("head_norm_rope_forward", "y", y, x.shape());
  expect_shape("head_norm_rope_forward", "w", w, {x.size(2)});
  expect_shape("head_norm_rope_forward", "rstd", rstd, {x.size(0) * x.size(1)});
  SW_DISPATCH(x.device(), head_norm_rope_forward, y, rstd, x, w, positions, table, eps);
}

void rope_apply(Tensor& x, const Tensor& positions, const Tensor& table, bool inverse) {
  same_device("rope_apply", {&x, &positions, &table});
  check_rotary("rope_apply", x, positions, table);
  SW_DISPATCH(x.device(), rope_apply, x, positions, table, inverse);
}

Tensor rope_table(int64_t max_positions, int64_t head_dim, double theta, DType inv_freq_dtype) {
  Tensor t = Tensor::empty({max_positions, head_dim}, DType::kF32);
  float* p = t.data_as<float>();
  const int64_t half = head_dim / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    float f = 1.0f / std::pow(static_cast<float>(theta), static_cast<float>(2 * i) / static_cast<float>(head_dim));
    if (inv_freq_dtype != DType::kF32) {
      uint16_t h;
      convert_floats(&h, inv_freq_dtype, &f, DType::kF32, 1);
      convert_floats(&f, DType::kF32, &h, inv_freq_dtype, 1);
    }
    inv_freq[i] = f;
  }
  for (int64_t pos = 0; pos < max_positions; ++pos)
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(pos) * inv_freq[i];
      p[pos * head_dim + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      p[pos * head_dim + half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  return t;
}

namespace {
void check_attention(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, const SeqLayout& seqs) {
  SW_CHECK(q.ndim() == 3 && k.ndim() == 3 && k.shape() == v.shape() && q.size(2) == k.size(2) &&
               q.size(1) % k.size(1) == 0,
           op, ": q ", q.describe(), ", k ", k.describe(), ", v ", v.describe());
  SW_CHECK(seqs.cu_q.numel() == seqs.cu_k.numel() && seqs.cu_q.numel() >= 2, op, ": cu_q ", seqs.cu_q.describe(),
           " and cu_k ", seqs.cu_k.describe());
  seqs.cu_q.check_dtype(DType::kI32);
  seqs.cu_k.check_dtype(DType::kI32);
}
}  // namespace

void attention_forward(Tensor& out, Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const SeqLayout& seqs, float scale) {
  same_device("attention_forward", {&out, &lse, &q, &k, &v, &seqs.cu_q, &seqs.cu_k});
  check_attention("attention_forward", q, k, v, seqs);
  expect_shape("attention_forward", "out", out, q.shape());
  expect_shape("attention_forward", "lse", lse, {q.size(0), q.size(1)});
  SW_DISPATCH(q.device(), attention_forward, out, lse, q, k, v, seqs, scale);
}

void attention_backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout, const Tensor& q, const Tensor& k,
                        const Tensor& v, const Tensor& out, const Tensor& lse, const SeqLayout& seqs, float scale) {
  same_device("attention_backward", {&dq, &dk, &dv, &dout, &q, &k, &v, &out, &lse});
  check_attention("attention_backward", q, k, v, seqs);
  expect_shape("attention_backward", "dq", dq, q.shape());
  expect_shape("attention_backward", "dk", dk, k.shape());
  expect_shape("attention_backward", "dv", dv, v.shape());
  expect_shape("attention_backward", "dout", dout, q.shape());
  SW_DISPATCH(q.device(), attention_backward, dq, dk, dv, dout, q, k, v, out, lse, seqs, scale);
}

void paged_kv_write(Tensor& k_pool, Tensor& v_pool, const Tensor& k, const Tensor& v, const Tensor& slots) {
  same_device("paged_kv_write", {&k_pool, &v_pool, &k, &v, &slots});
  SW_CHECK(k.ndim() == 3 && k_pool.ndim() == 3 && k.size(1) == k_pool.size(1) && k.size(2) == k_pool.size(2) &&
               k.dtype() == k_pool.dtype(),
           "paged_kv_write: k ", k.describe(), " into pool ", k_pool.describe());
  expect_shape("paged_kv_write", "v", v, k.shape());
  expect_shape("paged_kv_write", "v_pool", v_pool, k_pool.shape());
  expect_shape("paged_kv_write", "slots", slots, {k.size(0)});
  slots.check_dtype(DType::kI32);
  SW_DISPATCH(k.device(), paged_kv_write, k_pool, v_pool, k, v, slots);
}

void paged_attention_forward(Tensor& out, const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                             const PagedLayout& layout, float scale) {
  same_device("paged_attention_forward",
              {&out, &q, &k_pool, &v_pool, &layout.cu_q, &layout.seq_lens, &layout.block_tables});
  SW_CHECK(q.ndim() == 3 && k_pool.ndim() == 3 && k_pool.shape() == v_pool.shape() && q.size(2) == k_pool.size(2) &&
               q.size(1) % k_pool.size(1) == 0,
           "paged_attention_forward: q ", q.describe(), ", k_pool ", k_pool.describe(), ", v_pool ",
           v_pool.describe());
  expect_shape("paged_attention_forward", "out", out, q.shape());
  const int64_t s = layout.seq_lens.numel();
  SW_CHECK(layout.cu_q.numel() == s + 1 && layout.block_tables.ndim() == 2 && layout.block_tables.size(0) == s &&
               layout.block_size > 0 && k_pool.size(0) % layout.block_size == 0,
           "paged_attention_forward: cu_q ", layout.cu_q.describe(), ", seq_lens ", layout.seq_lens.describe(),
           ", block_tables ", layout.block_tables.describe(), ", block_size ", layout.block_size);
  layout.cu_q.check_dtype(DType::kI32);
  layout.seq_lens.check_dtype(DType::kI32);
  layout.block_tables.check_dtype(DType::kI32);
  SW_DISPATCH(q.device(), paged_attention_forward, out, q, k_pool, v_pool, layout, scale);
}

void swiglu_forward(Tensor& out, const Tensor& gate_up) {
  same_device("swiglu_forward", {&out, &gate_up});
  expect_shape("swiglu_forward", "gate_up", gate_up, {out.size(0), 2 * out.size(1)});
  SW_DISPATCH(out.device(), swiglu_forward, out, gate_up);
}

void swiglu_backward(Tensor& dgate_up, const Tensor& dout, const Tensor& gate_up) {
  same_device("swiglu_backward", {&dgate_up, &dout, &gate_up});
  expect_shape("swiglu_backward", "dgate_up", dgate_up, gate_up.shape());
  expect_shape("swiglu_backward", "dout", dout, {gate_up.size(0), gate_up.size(1) / 2});
  SW_DISPATCH(dout.device(), swiglu_backward, dgate_up, dout, gate_up);
}

void embedding_forward(Tensor& out, const Tensor& table, const Tensor& ids, int64_t vocab_start) {
  same_device("embedding_forward", {&out, &table, &ids});
  ids.check_dtype(DType::kI32);
  expect_shape("embedding_forward", "out", out, {ids.numel(), table.size(1)});
  SW_DISPATCH(out.device(), embedding_forward, out, table, ids, vocab_start);
}

void embedding_backward(Tensor& dtable, const Tensor& dout, const Tensor& ids, int64_t vocab_start) {
  same_device("embedding_backward", {&dtable, &dout, &ids});
  ids.check_dtype(DType::kI32);
  expect_shape("embedding_backward", "dout", dout, {ids.numel(), dtable.size(1)});
  SW_DISPATCH(dout.device(), embedding_backward, dtable, dout, ids, vocab_start);
}

void cross_entropy_row_max(Tensor& row_max, const Tensor& logits) {
  same_device("cross_entropy_row_max", {&row_max, &logits});
  expect_shape("cross_entropy_row_max", "row_max", row_max, {logits.size(0)});
  SW_DISPATCH(logits.device(), cross_entropy_row_max, row_max, logits);
}

void cross_entropy_sum_exp(Tensor& sum_exp, Tensor& target_logit, const Tensor& logits, const Tensor& row_max,
                           const Tensor& targets, int64_t vocab_start) {
  same_device("cross_entropy_sum_exp", {&sum_exp, &target_logit, &logits, &row_max, &targets});
  targets.check_dtype(DType::kI32);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&sum_exp, &target_logit, &row_max, &targets})
    expect_shape("cross_entropy_sum_exp", "row statistic", *t, {logits.size(0)});
  SW_DISPATCH(logits.device(), cross_entropy_sum_exp, sum_exp, target_logit, logits, row_max, targets, vocab_start);
}

void cross_entropy_backward(Tensor& logits, const Tensor& row_max, const Tensor& sum_exp, const Tensor& targets,
                            int64_t vocab_start, float grad_scale) {
  same_device("cross_entropy_backward", {&logits, &row_max, &sum_exp, &targets});
  const int64_t n = logits.size(0);
  for (const Tensor* t : {&row_max, &sum_exp, &targets})
    expect_shape("cross_entropy_backward", "row statistic", *t, {n});
  SW_DISPATCH(logits.device(), cross_entropy_backward, logits, row_max, sum_exp, targets, vocab_start, grad_scale);
}

void argmax_rows(Tensor& ids, const Tensor& logits, int64_t columns) {
  same_device("argmax_rows", {&ids, &logits});
  SW_CHECK(logits.ndim() == 2 && columns >= 1 && columns <= logits.size(1), "argmax_rows over ", columns,
           " columns of ", logits.describe());
  logits.check_dtype(DType::kF32);
  ids.check_dtype(DType::kI32);
  expect_shape("argmax_rows", "ids", ids, {logits.size(0)});
  SW_DISPATCH(logits.device(), argmax_rows, ids, logits, columns);
}

void increment(Tensor& x, int32_t delta) {
  x.check_dtype(DType::kI32);
  SW_DISPATCH(x.device(), increment, x, delta);
}

void add(Tensor& y, const Tensor& x, float alpha) {
  same_device("add", {&y, &x});
  expect_shape("add", "x", x, y.shape());
  SW_DISPATCH(y.device(), add, y, x, alpha);
}

std::vector<double> sum_squares_each(const std::vector<Tensor>& xs) {
  if (xs.empty()) return {};
  for (const Tensor& x : xs) same_device("sum_squares_each", {&xs.front(), &x});
  if (xs.front().device() == Device::kCPU) return cpu::sum_squares_each(xs);
#ifdef STEPWISE_HAS_CUDA
  return cuda::sum_squares_each(xs);
#else
  fail(StatusCode::kFailedPrecondition, "sum_squares_each: CUDA tensors but this build has no CUDA backend");
#endif
}

void scale(Tensor& x, float alpha) { SW_DISPATCH(x.device(), scale, x, alpha); }

void convert(Tensor& dst, const Tensor& src) {
  same_device("convert", {&dst, &src});
  expect_shape("convert", "src", src, dst.shape());
  SW_DISPATCH(dst.device(), convert, dst, src);
}

void adamw_step(Tensor& master, const Tensor& grad, Tensor& m, Tensor& v, Tensor* param_copy, const AdamWHyper& hp,
                int64_t step, float grad_scale) {
  same_device("adamw_step", {&master, &grad, &m, &v});
  for (const Tensor* t : std::initializer_list<const Tensor*>{&grad, &m, &v})
    expect_shape("adamw_step", "state", *t, master.shape());
  if (param_copy) expect_shape("adamw_step", "param_copy", *param_copy, master.shape());
  SW_CHECK(step >= 1, "adamw_step: step counts from 1, got ", step);
  SW_DISPATCH(master.device(), adamw_step, master, grad, m, v, param_copy, hp, step, grad_scale);
}

}  // namespace stepwise::kernels
