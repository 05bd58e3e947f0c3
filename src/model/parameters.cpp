// Planning, naming, loading and initialising the Qwen3 parameters.
#include "model/parameters.h"

#include <cstring>

#include "core/status.h"

namespace stepwise {

namespace {

// The tensor of Qwen3Weights (const or not) that holds `s`.
template <class Weights>
auto& slot_of(Weights& w, const Qwen3TensorSpec& s) {
  if (s.layer < 0) {
    switch (s.slot) {
      case Qwen3Slot::kEmbed: return w.embed;
      case Qwen3Slot::kFinalNorm: return w.final_norm;
      case Qwen3Slot::kLmHead: return w.lm_head;
      default: break;
    }
    SW_CHECK(false, s.name, ": not a model-wide slot");
  }
  auto& l = w.layers[static_cast<size_t>(s.layer)];
  switch (s.slot) {
    case Qwen3Slot::kInputNorm: return l.input_norm;
    case Qwen3Slot::kQProj: return l.q_proj;
    case Qwen3Slot::kKProj: return l.k_proj;
    case Qwen3Slot::kVProj: return l.v_proj;
    case Qwen3Slot::kQNorm: return l.q_norm;
    case Qwen3Slot::kKNorm: return l.k_norm;
    case Qwen3Slot::kOProj: return l.o_proj;
    case Qwen3Slot::kPostNorm: return l.post_norm;
    case Qwen3Slot::kGateUp: return l.gate_up;
    case Qwen3Slot::kDownProj: return l.down_proj;
    default: break;
  }
  SW_CHECK(false, s.name, ": not a per-layer slot");
  return l.input_norm;  // unreachable
}

// This rank's part of a tensor within its slot: the whole slot, or a block of rows of a fused one.
Tensor part_of(const Tensor& slot, const Qwen3TensorSpec& s) {
  if (s.parts == 1) return slot;
  const int64_t rows = slot.size(0) / s.parts;
  return slot.rows(s.part * rows, (s.part + 1) * rows);
}

}  // namespace

void plan_weights(ArenaPlan& plan, Qwen3Weights& w, const Qwen3Config& config, const Qwen3LocalDims& d,
                  DType dtype) {
  w.layers.resize(static_cast<size_t>(d.layers));
  for (const Qwen3TensorSpec& s : qwen3_tensor_specs(config)) {
    if (s.part > 0) continue;  // planned with part 0 of its fused slot
    Shape shape = tp_shard(s.split, s.full_shape, d.tp_rank, d.tp_size, s.name).shape;
    shape[0] *= s.parts;
    plan.add(&slot_of(w, s), shape, dtype);
  }
}

void tie_weights(Qwen3Weights& w, const Qwen3Config& config) {
  if (config.tie_word_embeddings) w.lm_head = w.embed;
}

std::vector<Parameter> list_parameters(const Qwen3Weights& values, const Qwen3Weights& grads, const Qwen3Config& config,
                                       const Qwen3LocalDims& d) {
  std::vector<Parameter> out;
  for (const Qwen3TensorSpec& s : qwen3_tensor_specs(config)) {
    const TpShard shard = tp_shard(s.split, s.full_shape, d.tp_rank, d.tp_size, s.name);
    out.push_back({s.name, part_of(slot_of(values, s), s), part_of(slot_of(grads, s), s), s.full_shape, shard.dim,
                   shard.start, s.grad_partial_over_tp && d.tp_size > 1});
  }
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
