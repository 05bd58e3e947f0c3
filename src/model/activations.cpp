// Planning of the activation and gradient-scratch arenas.
#include "model/activations.h"

namespace stepwise {

namespace {
// Visits every tensor of a struct, so that slicing to a smaller batch misses none.
template <class F>
void for_each(LayerActivations& a, F f) {
  f(a.ln1); f(a.ln1_rstd); f(a.q); f(a.q_rstd); f(a.k); f(a.k_rstd); f(a.v); f(a.qr); f(a.kr);
  f(a.attn); f(a.lse); f(a.mid); f(a.ln2); f(a.ln2_rstd); f(a.gate_up); f(a.act);
}
template <class F>
void for_each(BackwardScratch& s, F f) {
  f(s.d_resid); f(s.d_ln); f(s.d_attn); f(s.d_q); f(s.d_k); f(s.d_v); f(s.d_gate_up); f(s.d_act);
}
}  // namespace

LayerActivations LayerActivations::first(int64_t n) const {
  LayerActivations out = *this;
  for_each(out, [n](Tensor& t) { t = t.rows(0, n); });
  return out;
}

BackwardScratch BackwardScratch::first(int64_t n) const {
  BackwardScratch out = *this;
  for_each(out, [n](Tensor& t) { t = t.rows(0, n); });
  return out;
}

ForwardBuffers plan_forward_buffers(const Qwen3LocalDims& d, int64_t n, bool training, bool recompute, DType dtype,
                                    Device device) {
  ForwardBuffers b;
  b.capacity = n;
  b.layers.resize(training && !recompute ? static_cast<size_t>(d.layers) : 1);
  b.resid.resize(training ? static_cast<size_t>(d.layers + 1) : 2);
  ArenaPlan plan;
  const DType f32 = DType::kF32;
  for (LayerActivations& a : b.layers) {
    plan.add(&a.ln1, {n, d.hidden}, dtype);
    plan.add(&a.ln1_rstd, {n}, f32);
    plan.add(&a.q, {n, d.q_dim()}, dtype);
    plan.add(&a.q_rstd, {n, d.heads}, f32);
    plan.add(&a.k, {n, d.kv_dim()}, dtype);
    plan.add(&a.k_rstd, {n, d.kv_heads}, f32);
    plan.add(&a.v, {n, d.kv_dim()}, dtype);
    plan.add(&a.qr, {n, d.q_dim()}, dtype);
    plan.add(&a.kr, {n, d.kv_dim()}, dtype);
    plan.add(&a.attn, {n, d.q_dim()}, dtype);
    plan.add(&a.lse, {n, d.heads}, f32);
    plan.add(&a.mid, {n, d.hidden}, dtype);
    plan.add(&a.ln2, {n, d.hidden}, dtype);
    plan.add(&a.ln2_rstd, {n}, f32);
    plan.add(&a.gate_up, {n, 2 * d.ffn}, dtype);
    plan.add(&a.act, {n, d.ffn}, dtype);
  }
  for (Tensor& r : b.resid) plan.add(&r, {n, d.hidden}, dtype);
  plan.add(&b.final_norm, {n, d.hidden}, dtype);
  plan.add(&b.final_rstd, {n}, f32);
  if (training) {
    BackwardScratch& s = b.grads;
    plan.add(&s.d_resid, {n, d.hidden}, dtype);
    plan.add(&s.d_ln, {n, d.hidden}, dtype);
    plan.add(&s.d_attn, {n, d.q_dim()}, dtype);
    plan.add(&s.d_q, {n, d.q_dim()}, dtype);
    plan.add(&s.d_k, {n, d.kv_dim()}, dtype);
    plan.add(&s.d_v, {n, d.kv_dim()}, dtype);
    plan.add(&s.d_gate_up, {n, 2 * d.ffn}, dtype);
    plan.add(&s.d_act, {n, d.ffn}, dtype);
  }
  b.block = plan.allocate(device);
  return b;
}

}  // namespace stepwise
