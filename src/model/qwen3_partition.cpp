// The tensor-parallel partition of a Qwen3 model: per-rank sizes and the table of every weight.
#include "model/qwen3_partition.h"

#include "core/arena.h"
#include "core/status.h"

namespace stepwise {

Qwen3LocalDims make_local_dims(const Qwen3Config& c, int tp_rank, int tp_size) {
  SW_CHECK(tp_size >= 1 && tp_rank >= 0 && tp_rank < tp_size, "tp rank ", tp_rank, " of ", tp_size);
  Qwen3LocalDims d;
  d.kv_heads = split_evenly(c.num_kv_heads, tp_size, "num_key_value_heads");
  d.heads = split_evenly(c.num_heads, tp_size, "num_attention_heads");
  d.ffn = split_evenly(c.intermediate_size, tp_size, "intermediate_size");
  const VocabRange v = vocab_range(c.vocab_size, tp_rank, tp_size);
  d.vocab_start = v.start;
  d.vocab = v.size;
  d.hidden = c.hidden_size;
  d.head_dim = c.head_dim;
  d.layers = c.num_layers;
  d.tp_rank = tp_rank;
  d.tp_size = tp_size;
  return d;
}

std::vector<Qwen3TensorSpec> qwen3_tensor_specs(const Qwen3Config& c) {
  using S = Qwen3Slot;
  constexpr TpSplit kRep = TpSplit::kReplicated, kCol = TpSplit::kColumnParallel, kRow = TpSplit::kRowParallel,
                    kVocab = TpSplit::kVocabParallel;
  const int64_t D = c.hidden_size, hd = c.head_dim, q = c.num_heads * hd, kv = c.num_kv_heads * hd,
                F = c.intermediate_size, V = c.vocab_size;
  std::vector<Qwen3TensorSpec> out;
  out.push_back({"model.embed_tokens.weight", {V, D}, kVocab, false, S::kEmbed});
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    out.push_back({p + "input_layernorm.weight", {D}, kRep, false, S::kInputNorm, l});
    out.push_back({p + "self_attn.q_proj.weight", {q, D}, kCol, false, S::kQProj, l});
    out.push_back({p + "self_attn.k_proj.weight", {kv, D}, kCol, false, S::kKProj, l});
    out.push_back({p + "self_attn.v_proj.weight", {kv, D}, kCol, false, S::kVProj, l});
    out.push_back({p + "self_attn.q_norm.weight", {hd}, kRep, true, S::kQNorm, l});
    out.push_back({p + "self_attn.k_norm.weight", {hd}, kRep, true, S::kKNorm, l});
    out.push_back({p + "self_attn.o_proj.weight", {D, q}, kRow, false, S::kOProj, l});
    out.push_back({p + "post_attention_layernorm.weight", {D}, kRep, false, S::kPostNorm, l});
    out.push_back({p + "mlp.gate_proj.weight", {F, D}, kCol, false, S::kGateUp, l, 0, 2});
    out.push_back({p + "mlp.up_proj.weight", {F, D}, kCol, false, S::kGateUp, l, 1, 2});
    out.push_back({p + "mlp.down_proj.weight", {D, F}, kRow, false, S::kDownProj, l});
  }
  out.push_back({"model.norm.weight", {D}, kRep, false, S::kFinalNorm});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {V, D}, kVocab, false, S::kLmHead});
  return out;
}

Qwen3FlatLayout qwen3_flat_layout(const Qwen3Config& config, int tp_rank, int tp_size, int64_t multiple) {
  // As the model plans its f32 gradients (model/parameters.cpp, plan_weights): one arena slot per spec of part 0
  // holding all its parts; then zero padding to a whole number of 64 x multiple elements (model/qwen3.cpp).
  Qwen3FlatLayout out;
  int64_t at = 0, slot_at = 0;
  for (const Qwen3TensorSpec& s : qwen3_tensor_specs(config)) {
    const int64_t numel = shape_numel(tp_shard(s.split, s.full_shape, tp_rank, tp_size, s.name).shape);
    if (s.part == 0) {
      slot_at = at;
      at += static_cast<int64_t>(ArenaPlan::slot_bytes(static_cast<size_t>(numel * s.parts) * sizeof(float)) /
                                 sizeof(float));
    }
    out.entries.push_back({s.name, slot_at + s.part * numel, numel});
  }
  const int64_t unit = 64 * multiple;
  out.total = (at + unit - 1) / unit * unit;
  return out;
}

}  // namespace stepwise
