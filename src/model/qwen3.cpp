// Qwen3Model: forward, explicit backward, scoring and KV-cache decoding over the kernel interface.
#include "model/qwen3.h"

#include <cmath>

#include "core/status.h"
#include "distributed/tensor_parallel.h"
#include "kernels/ops.h"

namespace stepwise {

namespace k = kernels;

Qwen3Model::Qwen3Model(const Qwen3Config& config, const ModelOptions& options) : config_(config), options_(options) {
  if (options.device == Device::kCPU && options.compute_dtype != DType::kF32)
    invalid_argument("the CPU backend computes in f32; got compute dtype ", dtype_name(options.compute_dtype));
  if (!options.tp) own_tp_ = make_single_process_communicator("tp");
  tp_ = options.tp ? options.tp : own_tp_.get();
  dims_ = make_local_dims(config, tp_->rank(), tp_->size());

  ArenaPlan weight_plan, grad_plan;
  plan_weights(weight_plan, weights_, config, dims_, options.compute_dtype);
  plan_weights(grad_plan, grads_, config, dims_, DType::kF32);
  // Pad both blocks by the same whole number of 256-byte units (64 f32: the arena's alignment), so that the
  // gradient block's element count divides by flat_block_multiple and f32 weights keep its layout.
  SW_CHECK(options.flat_block_multiple >= 1, "flat_block_multiple ", options.flat_block_multiple);
  const int64_t grad_elems = static_cast<int64_t>(grad_plan.bytes() / sizeof(float));
  const int64_t unit = 64 * options.flat_block_multiple;
  const int64_t pad = (grad_elems + unit - 1) / unit * unit - grad_elems;
  Tensor weight_pad, grad_pad;
  if (pad > 0) {
    weight_plan.add(&weight_pad, {pad}, options.compute_dtype);
    grad_plan.add(&grad_pad, {pad}, DType::kF32);
  }
  weight_block_ = weight_plan.allocate(options.device);
  grad_block_ = grad_plan.allocate(options.device);
  weight_bytes_ = weight_plan.bytes();
  grad_bytes_ = grad_plan.bytes();
  tie_weights(weights_, config);
  tie_weights(grads_, config);
  params_ = list_parameters(weights_, grads_, config, dims_);
  const DType inv_freq_dtype = config.dtype == "bfloat16" ? DType::kBF16
                               : config.dtype == "float16" ? DType::kF16
                                                           : DType::kF32;
  rope_ = k::rope_table(config.max_position_embeddings, config.head_dim, config.rope_theta, inv_freq_dtype)
              .to(options.device);
}

Tensor Qwen3Model::grad_block() const {
  return Tensor(grad_block_.get(), {static_cast<int64_t>(grad_bytes_ / sizeof(float))}, DType::kF32,
                options_.device, grad_block_);
}

Tensor Qwen3Model::param_block() const {
  return Tensor(weight_block_.get(), {static_cast<int64_t>(weight_bytes_ / dtype_size(options_.compute_dtype))},
                options_.compute_dtype, options_.device, weight_block_);
}

void Qwen3Model::zero_grads() { grad_block().zero(); }

void Qwen3Model::finish_gradients() {
  for (Parameter& p : params_)
    if (p.grad_partial_over_tp) reduce_partial_weight_grad(*tp_, p.grad);
}

void Qwen3Model::reserve_training(int64_t max_tokens) {
  if (train_bufs_.capacity >= max_tokens) return;
  train_bufs_ = ForwardBuffers();  // free the old plan before allocating the larger one
  train_bufs_ = plan_forward_buffers(dims_, max_tokens, /*training=*/true, options_.recompute_activations,
                                     options_.compute_dtype, options_.device);
}

ForwardBuffers& Qwen3Model::inference_buffers(int64_t n) {
  if (infer_bufs_.capacity < n) {
    infer_bufs_ = ForwardBuffers();
    infer_bufs_ = plan_forward_buffers(dims_, n, /*training=*/false, /*recompute=*/false, options_.compute_dtype,
                                       options_.device);
  }
  return infer_bufs_;
}

LmHeadScratch& Qwen3Model::lm_scratch(int64_t n) {
  const int64_t chunk = options_.lm_head_chunk > 0 ? options_.lm_head_chunk
                        : options_.device == Device::kCUDA ? 4096
                                                           : 1024;
  const int64_t rows = std::min(n, chunk);
  if (!lm_scratch_.block || lm_scratch_.logits.size(0) < rows) {
    lm_scratch_ = LmHeadScratch();  // free the old scratch before allocating the larger one
    lm_scratch_ = LmHeadScratch::create(rows, dims_.vocab, options_.compute_dtype, options_.device);
  }
  return lm_scratch_;
}

void Qwen3Model::forward(const DeviceBatch& b, ForwardBuffers& bufs, DecodeCache cache) {
  const int64_t n = b.size;
  Tensor x0 = bufs.resid_at(0, n);
  k::embedding_forward(x0, weights_.embed, b.tokens, dims_.vocab_start);
  reduce_embedding_output(*tp_, x0);
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const Tensor final_norm = bufs.final_norm.rows(0, n), final_rstd = bufs.final_rstd.rows(0, n);
  if (dims_.layers == 0) {
    Tensor h = final_norm, rstd = final_rstd;
    k::rmsnorm_forward(h, rstd, x0, weights_.final_norm, eps);
    return;
  }
  LayerActivations first = bufs.layer(0, n);
  k::rmsnorm_forward(first.ln1, first.ln1_rstd, x0, weights_.layers[0].input_norm, eps);
  for (int64_t l = 0; l < dims_.layers; ++l) {
    LayerOutput out{bufs.resid_at(l + 1, n), final_norm, final_rstd, weights_.final_norm};
    if (l + 1 < dims_.layers) {
      // With recomputation every layer shares one activation slot: layer l no longer reads its ln1 by then.
      const LayerActivations next = bufs.layer(l + 1, n);
      out.norm = next.ln1;
      out.norm_rstd = next.ln1_rstd;
      out.norm_weight = weights_.layers[l + 1].input_norm;
    }
    layer_forward(l, b, bufs.layer(l, n), bufs.resid_at(l, n), &out, cache);
  }
}

void Qwen3Model::layer_forward(int64_t l, const DeviceBatch& b, LayerActivations a, const Tensor& x,
                               const LayerOutput* out, DecodeCache cache) {
  const LayerWeights& w = weights_.layers[l];
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const int64_t n = b.size, hd = dims_.head_dim, hq = dims_.heads, hkv = dims_.kv_heads;

  if (!out) k::rmsnorm_forward(a.ln1, a.ln1_rstd, x, w.input_norm, eps);
  k::linear_forward(a.q, a.ln1, w.q_proj);  // column-parallel: no communication
  k::linear_forward(a.k, a.ln1, w.k_proj);
  k::linear_forward(a.v, a.ln1, w.v_proj);

  // Per-head RMSNorm, then the rotary embedding, into qr / kr (one fused pass each).
  Tensor q3 = a.qr.reshape({n, hq, hd}), k3 = a.kr.reshape({n, hkv, hd}), v3 = a.v.reshape({n, hkv, hd});
  Tensor q_rstd = a.q_rstd.reshape({n * hq}), k_rstd = a.k_rstd.reshape({n * hkv});
  k::head_norm_rope_forward(q3, q_rstd, a.q.reshape({n, hq, hd}), w.q_norm, b.positions, rope_, eps);
  k::head_norm_rope_forward(k3, k_rstd, a.k.reshape({n, hkv, hd}), w.k_norm, b.positions, rope_, eps);

  Tensor attn3 = a.attn.reshape({n, hq, hd});
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  if (cache.paged) {  // write this step's keys and values to their slots, attend over each sequence's blocks
    k::paged_kv_write(cache.paged->k[l], cache.paged->v[l], k3, v3, b.slots);
    k::paged_attention_forward(attn3, q3, cache.paged->k[l], cache.paged->v[l], b.paged, scale);
  } else if (cache.sequence) {  // append this step's keys and values, attend over the whole cached sequence
    KvCache& c = *cache.sequence;
    Tensor kc = c.k[l].rows(c.length, c.length + n), vc = c.v[l].rows(c.length, c.length + n);
    kc.copy_from(k3);
    vc.copy_from(v3);
    k::attention_forward(attn3, a.lse, q3, c.k[l].rows(0, c.length + n), c.v[l].rows(0, c.length + n), b.seqs, scale);
  } else {
    k::attention_forward(attn3, a.lse, q3, k3, v3, b.seqs, scale);
  }

  k::linear_forward(a.mid, a.attn, w.o_proj);
  reduce_row_parallel_output(*tp_, a.mid);
  k::add_rmsnorm_forward(a.mid, a.ln2, a.ln2_rstd, x, w.post_norm, eps);  // mid += x, then its norm
  k::linear_forward(a.gate_up, a.ln2, w.gate_up);
  k::swiglu_forward(a.act, a.gate_up);
  if (!out) return;
  Tensor resid = out->resid, norm = out->norm, norm_rstd = out->norm_rstd;
  k::linear_forward(resid, a.act, w.down_proj);
  reduce_row_parallel_output(*tp_, resid);
  k::add_rmsnorm_forward(resid, norm, norm_rstd, a.mid, out->norm_weight, eps);  // out = mid + mlp, then its norm
}

// On entry s.d_resid holds d loss / d (layer output); on exit d loss / d (layer input).
void Qwen3Model::layer_backward(int64_t l, const DeviceBatch& b, const LayerActivations& a, const Tensor& x,
                                BackwardScratch s) {
  const LayerWeights& w = weights_.layers[l];
  LayerWeights& g = grads_.layers[l];
  const int64_t n = b.size, hd = dims_.head_dim, hq = dims_.heads, hkv = dims_.kv_heads;

  // MLP: out = mid + down(swiglu(gate_up(rmsnorm(mid)))).
  k::linear_backward_input(s.d_act, s.d_resid, w.down_proj, false);
  k::linear_backward_weight(g.down_proj, s.d_resid, a.act);
  k::swiglu_backward(s.d_gate_up, s.d_act, a.gate_up);
  k::linear_backward_weight(g.gate_up, s.d_gate_up, a.ln2);
  k::linear_backward_input(s.d_ln, s.d_gate_up, w.gate_up, false);
  reduce_column_parallel_input_grad(*tp_, s.d_ln);
  k::rmsnorm_backward(s.d_resid, g.post_norm, s.d_ln, a.mid, w.post_norm, a.ln2_rstd, true);

  // Attention: mid = x + o_proj(attention(rope(norm(q)), rope(norm(k)), v)).
  k::linear_backward_input(s.d_attn, s.d_resid, w.o_proj, false);
  k::linear_backward_weight(g.o_proj, s.d_resid, a.attn);
  Tensor dq3 = s.d_q.reshape({n, hq, hd}), dk3 = s.d_k.reshape({n, hkv, hd}), dv3 = s.d_v.reshape({n, hkv, hd});
  k::attention_backward(dq3, dk3, dv3, s.d_attn.reshape({n, hq, hd}), a.qr.reshape({n, hq, hd}),
                        a.kr.reshape({n, hkv, hd}), a.v.reshape({n, hkv, hd}), a.attn.reshape({n, hq, hd}), a.lse,
                        b.seqs, 1.0f / std::sqrt(static_cast<float>(hd)));
  k::rope_apply(dq3, b.positions, rope_, true);
  k::rope_apply(dk3, b.positions, rope_, true);
  Tensor dq2 = s.d_q.reshape({n * hq, hd}), dk2 = s.d_k.reshape({n * hkv, hd});
  k::rmsnorm_backward(dq2, g.q_norm, dq2, a.q.reshape({n * hq, hd}), w.q_norm, a.q_rstd.reshape({n * hq}), false);
  k::rmsnorm_backward(dk2, g.k_norm, dk2, a.k.reshape({n * hkv, hd}), w.k_norm, a.k_rstd.reshape({n * hkv}), false);
  k::linear_backward_weight(g.q_proj, s.d_q, a.ln1);
  k::linear_backward_weight(g.k_proj, s.d_k, a.ln1);
  k::linear_backward_weight(g.v_proj, s.d_v, a.ln1);
  k::linear_backward_input(s.d_ln, s.d_q, w.q_proj, false);
  k::linear_backward_input(s.d_ln, s.d_k, w.k_proj, true);
  k::linear_backward_input(s.d_ln, s.d_v, w.v_proj, true);
  reduce_column_parallel_input_grad(*tp_, s.d_ln);
  k::rmsnorm_backward(s.d_resid, g.input_norm, s.d_ln, x, w.input_norm, a.ln1_rstd, true);
}

LossSum Qwen3Model::forward_backward(const TokenBatch& batch, float grad_scale) {
  const k::ScopedCpuAccumulation accumulation(options_.cpu_accumulation);
  batch.check(config_.vocab_size);
  const int64_t n = batch.size();
  reserve_training(n);
  const DeviceBatch b = upload(batch, options_.device);
  forward(b, train_bufs_, {});

  BackwardScratch s = train_bufs_.grads.first(n);
  Tensor h = train_bufs_.final_norm.rows(0, n);
  const LossSum loss = lm_head_loss(h, weights_.lm_head, b.targets, batch.targets, dims_, *tp_, lm_scratch(n), &s.d_ln,
                                    &grads_.lm_head, grad_scale);
  k::rmsnorm_backward(s.d_resid, grads_.final_norm, s.d_ln, train_bufs_.resid_at(dims_.layers, n), weights_.final_norm,
                      train_bufs_.final_rstd.rows(0, n), false);
  for (int64_t l = dims_.layers - 1; l >= 0; --l) {
    const LayerActivations a = train_bufs_.layer(l, n);
    // Recomputation: the one activation slot still holds the last layer's values from the forward pass; every
    // other layer is recomputed from its saved input (the same ops on the same inputs: the same bits).
    if (options_.recompute_activations && l != dims_.layers - 1)
      layer_forward(l, b, a, train_bufs_.resid_at(l, n), nullptr, {});
    layer_backward(l, b, a, train_bufs_.resid_at(l, n), s);
  }
  k::embedding_backward(grads_.embed, s.d_resid, b.tokens, dims_.vocab_start);
  return loss;
}

ForwardBuffers& Qwen3Model::forward_inference(const TokenBatch& batch, DeviceBatch& b) {
  batch.check(config_.vocab_size);
  b = upload(batch, options_.device);
  ForwardBuffers& bufs = inference_buffers(b.size);
  forward(b, bufs, {});
  return bufs;
}

LossSum Qwen3Model::forward_loss(const TokenBatch& batch) {
  const k::ScopedCpuAccumulation accumulation(options_.cpu_accumulation);
  DeviceBatch b;
  ForwardBuffers& bufs = forward_inference(batch, b);
  return lm_head_loss(bufs.final_norm.rows(0, b.size), weights_.lm_head, b.targets, batch.targets, dims_, *tp_,
                      lm_scratch(b.size), nullptr, nullptr, 0.0f);
}

Tensor Qwen3Model::forward_logits(const TokenBatch& batch) {
  const k::ScopedCpuAccumulation accumulation(options_.cpu_accumulation);
  DeviceBatch b;
  ForwardBuffers& bufs = forward_inference(batch, b);
  Tensor logits = Tensor::empty({b.size, dims_.vocab}, DType::kF32, options_.device);
  k::linear_forward(logits, bufs.final_norm.rows(0, b.size), weights_.lm_head);
  return logits;
}

KvCache Qwen3Model::new_kv_cache(int64_t capacity) const {
  if (capacity > config_.max_position_embeddings)
    invalid_argument("a sequence of ", capacity, " tokens exceeds the model's max_position_embeddings (",
                     config_.max_position_embeddings, ")");
  return KvCache::create(dims_, capacity, options_.compute_dtype, options_.device);
}

Tensor Qwen3Model::forward_step(const std::vector<int32_t>& tokens, KvCache& cache) {
  const k::ScopedCpuAccumulation accumulation(options_.cpu_accumulation);
  const int64_t n = static_cast<int64_t>(tokens.size()), start = cache.length;
  SW_CHECK(n > 0, "forward_step with no tokens");
  if (start + n > cache.capacity)
    invalid_argument("the sequence would reach ", start + n, " tokens but its KV cache holds ", cache.capacity,
                     "; ask for fewer new tokens or a larger cache");
  TokenBatch batch;
  batch.tokens = tokens;
  batch.targets.assign(tokens.size(), kIgnoreTarget);
  for (int64_t i = 0; i < n; ++i) batch.positions.push_back(static_cast<int32_t>(start + i));
  batch.cu_seqlens = {0, static_cast<int32_t>(n)};
  batch.check(config_.vocab_size);

  DeviceBatch b = upload(batch, options_.device);
  b.seqs.cu_k = Tensor::from_vector(std::vector<int32_t>{0, static_cast<int32_t>(start + n)}, {2}).to(options_.device);
  b.seqs.max_k = start + n;
  ForwardBuffers& bufs = inference_buffers(n);
  forward(b, bufs, {&cache, nullptr});
  cache.length += n;
  Tensor logits = Tensor::empty({1, dims_.vocab}, DType::kF32, options_.device);
  k::linear_forward(logits, bufs.final_norm.rows(n - 1, n), weights_.lm_head);
  return logits;
}

PagedKvCache Qwen3Model::new_paged_kv_cache(int64_t num_blocks, int64_t block_size) const {
  return PagedKvCache::create(dims_, num_blocks, block_size, options_.compute_dtype, options_.device);
}

Tensor Qwen3Model::forward_paged(const PagedStep& step, PagedKvCache& cache) {
  const k::ScopedCpuAccumulation accumulation(options_.cpu_accumulation);
  step.check(config_.vocab_size, cache.num_blocks, cache.block_size);
  for (int64_t t = 0; t < step.size(); ++t)
    if (step.positions[t] >= config_.max_position_embeddings)
      invalid_argument("position ", step.positions[t], " is past the model's max_position_embeddings (",
                       config_.max_position_embeddings, ")");
  const int64_t n = step.size(), rows = static_cast<int64_t>(step.logit_rows.size());
  const DeviceBatch b = upload(step, cache.block_size, options_.device);
  ForwardBuffers& bufs = inference_buffers(n);
  forward(b, bufs, {nullptr, &cache});
  // The rows that sample, gathered into one block for the LM head (all of them in a pure decoding step).
  Tensor h = bufs.final_norm.rows(0, n);
  if (rows != n && rows > 0) {
    Tensor picked = Tensor::empty({rows, config_.hidden_size}, options_.compute_dtype, options_.device);
    for (int64_t r = 0; r < rows; ++r) picked.rows(r, r + 1).copy_from(h.rows(step.logit_rows[r], step.logit_rows[r] + 1));
    h = picked;
  }
  Tensor logits = Tensor::empty({rows, dims_.vocab}, DType::kF32, options_.device);
  if (rows > 0) k::linear_forward(logits, h, weights_.lm_head);
  return logits;
}

}  // namespace stepwise
