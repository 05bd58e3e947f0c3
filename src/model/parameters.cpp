// Planning, naming, loading and initialising the Qwen3 parameters.
#include "model/parameters.h"

#include <cstring>

#include "core/status.h"

namespace stepwise {

void plan_weights(ArenaPlan& plan, Qwen3Weights& w, const Qwen3Config& config, const Qwen3LocalDims& d,
                  DType dtype) {
  plan.add(&w.embed, {d.vocab, d.hidden}, dtype);
  w.layers.resize(static_cast<size_t>(d.layers));
  for (LayerWeights& l : w.layers) {
    plan.add(&l.input_norm, {d.hidden}, dtype);
    plan.add(&l.q_proj, {d.q_dim(), d.hidden}, dtype);
    plan.add(&l.k_proj, {d.kv_dim(), d.hidden}, dtype);
    plan.add(&l.v_proj, {d.kv_dim(), d.hidden}, dtype);
    plan.add(&l.q_norm, {d.head_dim}, dtype);
    plan.add(&l.k_norm, {d.head_dim}, dtype);
    plan.add(&l.o_proj, {d.hidden, d.q_dim()}, dtype);
    plan.add(&l.post_norm, {d.hidden}, dtype);
    plan.add(&l.gate_up, {2 * d.ffn, d.hidden}, dtype);
    plan.add(&l.down_proj, {d.hidden, d.ffn}, dtype);
  }
  plan.add(&w.final_norm, {d.hidden}, dtype);
  if (!config.tie_word_embeddings) plan.add(&w.lm_head, {d.vocab, d.hidden}, dtype);
}

void tie_weights(Qwen3Weights& w, const Qwen3Config& config) {
  if (config.tie_word_embeddings) w.lm_head = w.embed;
}

std::vector<Parameter> list_parameters(const Qwen3Weights& v, const Qwen3Weights& g, const Qwen3Config& c,
                                       const Qwen3LocalDims& d) {
  std::vector<Parameter> out;
  auto add = [&](std::string name, const Tensor& value, const Tensor& grad, Shape full, int dim, int64_t start,
                 bool partial = false) {
    out.push_back({std::move(name), value, grad, std::move(full), dim, start, partial});
  };
  const int64_t D = c.hidden_size, hd = c.head_dim, r = d.tp_rank;
  add("model.embed_tokens.weight", v.embed, g.embed, {c.vocab_size, D}, 0, d.vocab_start);
  for (int64_t i = 0; i < d.layers; ++i) {
    const LayerWeights &lv = v.layers[i], &lg = g.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", lv.input_norm, lg.input_norm, {D}, -1, 0);
    add(p + "self_attn.q_proj.weight", lv.q_proj, lg.q_proj, {c.num_heads * hd, D}, 0, r * d.q_dim());
    add(p + "self_attn.k_proj.weight", lv.k_proj, lg.k_proj, {c.num_kv_heads * hd, D}, 0, r * d.kv_dim());
    add(p + "self_attn.v_proj.weight", lv.v_proj, lg.v_proj, {c.num_kv_heads * hd, D}, 0, r * d.kv_dim());
    add(p + "self_attn.q_norm.weight", lv.q_norm, lg.q_norm, {hd}, -1, 0, d.tp_size > 1);
    add(p + "self_attn.k_norm.weight", lv.k_norm, lg.k_norm, {hd}, -1, 0, d.tp_size > 1);
    add(p + "self_attn.o_proj.weight", lv.o_proj, lg.o_proj, {D, c.num_heads * hd}, 1, r * d.q_dim());
    add(p + "post_attention_layernorm.weight", lv.post_norm, lg.post_norm, {D}, -1, 0);
    add(p + "mlp.gate_proj.weight", lv.gate_up.rows(0, d.ffn), lg.gate_up.rows(0, d.ffn), {c.intermediate_size, D},
        0, r * d.ffn);
    add(p + "mlp.up_proj.weight", lv.gate_up.rows(d.ffn, 2 * d.ffn), lg.gate_up.rows(d.ffn, 2 * d.ffn),
        {c.intermediate_size, D}, 0, r * d.ffn);
    add(p + "mlp.down_proj.weight", lv.down_proj, lg.down_proj, {D, c.intermediate_size}, 1, r * d.ffn);
  }
  add("model.norm.weight", v.final_norm, g.final_norm, {D}, -1, 0);
  if (!c.tie_word_embeddings) add("lm_head.weight", v.lm_head, g.lm_head, {c.vocab_size, D}, 0, d.vocab_start);
  return out;
}

namespace {

// FNV-1a: a seed per parameter name that is the same on every platform and build.
uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

// Stores an f32 host tensor into a parameter's value (converting dtype, copying to the device).
void store(Parameter& p, const Tensor& host_f32) {
  if (p.value.dtype() == DType::kF32 && p.value.is_cpu()) {
    if (p.value.data() != host_f32.data()) p.value.copy_from(host_f32);
    return;
  }
  p.value.copy_from(host_f32.to_dtype(p.value.dtype()));
}

}  // namespace

void load_parameters(std::vector<Parameter>& params, const SafetensorsCheckpoint& ckpt) {
  for (Parameter& p : params) {
    if (!ckpt.has(p.name))
      invalid_argument(ckpt.source(), ": tensor '", p.name, "' is missing; is this a Qwen3 checkpoint matching its ",
                       "config.json?");
    const Shape stored = ckpt.shape(p.name);
    if (stored != p.full_shape)
      invalid_argument(ckpt.source(), ": tensor '", p.name, "' has shape ", shape_str(stored), " but config.json ",
                       "implies ", shape_str(p.full_shape));
    Tensor host = (p.value.dtype() == DType::kF32 && p.value.is_cpu()) ? p.value
                                                                        : Tensor::empty(p.value.shape(), DType::kF32);
    if (p.shard_dim < 0)
      ckpt.read_f32(p.name, host);
    else
      ckpt.read_f32_slice(p.name, host, p.shard_dim, p.shard_start);
    store(p, host);
  }
}

void init_parameters(std::vector<Parameter>& params, uint64_t seed, float std) {
  for (Parameter& p : params) {
    Tensor full = Tensor::empty(p.full_shape, DType::kF32);
    float* x = full.data_as<float>();
    if (p.full_shape.size() == 1) {
      for (int64_t i = 0; i < full.numel(); ++i) x[i] = 1.0f;
    } else {
      Rng rng(seed ^ name_hash(p.name));
      for (int64_t i = 0; i < full.numel(); ++i) x[i] = std * rng.normal();
    }
    store_full(p, full);
  }
}

void store_full(Parameter& p, const Tensor& full_f32) {
  if (p.shard_dim < 0) return store(p, full_f32);
  // This rank's block: rows [start, start + n) or columns [start, start + n).
  if (p.shard_dim == 0) return store(p, full_f32.rows(p.shard_start, p.shard_start + p.value.size(0)));
  Tensor shard = Tensor::empty(p.value.shape(), DType::kF32);
  const int64_t rows = shard.size(0), width = shard.size(1), full_cols = full_f32.size(1);
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(shard.data_as<float>() + r * width, full_f32.data_as<float>() + r * full_cols + p.shard_start,
                static_cast<size_t>(width) * sizeof(float));
  store(p, shard);
}

}  // namespace stepwise
