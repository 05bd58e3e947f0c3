// AdamW, global-norm clipping, and the data-parallel reduction of gradients (all-reduce or ZeRO-1).
#include "train/adamw.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/arena.h"
#include "core/status.h"
#include "distributed/data_parallel.h"
#include "distributed/tensor_parallel.h"
#include "io/safetensors.h"

namespace stepwise {

namespace {

Tensor flat(const Tensor& t) { return t.reshape({t.numel()}); }

// Element offset of `part` inside the flat block `block` (same dtype).
int64_t offset_in(const Tensor& block, const Tensor& part) {
  const char *b = static_cast<const char*>(block.data()), *p = static_cast<const char*>(part.data());
  SW_CHECK(p >= b && p + part.nbytes() <= b + block.nbytes(), "tensor outside the model's flat block");
  return static_cast<int64_t>((p - b) / dtype_size(block.dtype()));
}

// Sums of squares of the gradients of `items` (grad_of(item) = {gradient, TP-sharded?}), split into sharded and
// replicated ones, added in list order.
struct GradSquares {
  double sharded = 0, replicated = 0;
};
template <class Items, class GradOf>
GradSquares grad_squares(const Items& items, GradOf grad_of) {
  std::vector<Tensor> grads;
  std::vector<bool> sharded;
  for (const auto& item : items) {
    const auto [grad, is_sharded] = grad_of(item);
    grads.push_back(grad);
    sharded.push_back(is_sharded);
  }
  const std::vector<double> each = kernels::sum_squares_each(grads);
  GradSquares sq;
  for (size_t i = 0; i < each.size(); ++i) (sharded[i] ? sq.sharded : sq.replicated) += each[i];
  return sq;
}

// sqrt(sum over TP of the sharded squares + replicated squares): replicated tensors are equal on every TP rank.
double combine_norm(double sharded, double replicated, Communicator& tp) {
  return std::sqrt(sum_sharded_grad_squares(tp, sharded) + replicated);
}

}  // namespace

double global_grad_norm(const std::vector<Parameter>& params, Communicator& tp) {
  const GradSquares sq =
      grad_squares(params, [](const Parameter& p) { return std::pair<Tensor, bool>(p.grad, p.shard_dim >= 0); });
  return combine_norm(sq.sharded, sq.replicated, tp);
}

AdamW::AdamW(std::vector<Parameter>& params, const AdamWConfig& config) : params_(&params), config_(config) {
  plan_state(0, INT64_MAX, Tensor());
}

AdamW::AdamW(Qwen3Model& model, const AdamWConfig& config, Communicator& dp, bool zero1)
    : params_(&model.parameters()),
      config_(config),
      tp_(&model.tp()),
      dp_(&dp),
      zero1_(zero1 && dp.size() > 1),
      grad_block_(model.grad_block()) {
  if (!zero1_) {
    plan_state(0, INT64_MAX, Tensor());
    return;
  }
  const int64_t n = grad_block_.numel(), ranks = dp.size();
  if (n % ranks != 0)
    invalid_argument("ZeRO-1 over ", ranks, " DP ranks: the model's flat gradient block has ", n,
                     " elements, not a multiple of ", ranks, "; build the model with ModelOptions::flat_block_multiple",
                     " = ", ranks, " (the DP size)");
  // f32 parameters share the gradient block's layout and are gathered in place; others through a staging block.
  const Tensor params_flat = model.param_block();
  gather_block_ =
      params_flat.dtype() == DType::kF32 ? params_flat : Tensor::zeros({n}, params_flat.dtype(), params_flat.device());
  const int64_t shard = n / ranks;
  plan_state(dp.rank() * shard, (dp.rank() + 1) * shard, params_flat);
}

// Segments for the elements [shard_begin, shard_end) of the flat gradient block (all of every parameter when
// there is no block), then one allocation for their moments and master weights.
void AdamW::plan_state(int64_t shard_begin, int64_t shard_end, const Tensor& params_flat) {
  for (Parameter& p : *params_) {
    const int64_t n = p.grad.numel(), at = grad_block_.defined() ? offset_in(grad_block_, p.grad) : 0;
    const bool f32 = p.value.dtype() == DType::kF32;
    if (zero1_ && f32)
      SW_CHECK(offset_in(params_flat, p.value) == at, p.name, ": f32 weights not laid out as the gradient block");
    const int64_t lo = std::max(at, shard_begin) - at, hi = std::min(at + n, shard_end) - at;
    if (lo >= hi) continue;
    Segment s{&p, lo, hi, flat(p.grad).rows(lo, hi), flat(p.value).rows(lo, hi), {}, {}, {}, {}};
    if (!f32) s.copy_to = zero1_ ? gather_block_.rows(at + lo, at + hi) : s.value;
    segments_.push_back(s);
  }
  ArenaPlan plan;
  for (Segment& s : segments_) {
    plan.add(&s.m, {s.end - s.begin}, DType::kF32);
    plan.add(&s.v, {s.end - s.begin}, DType::kF32);
    if (s.copy_to.defined()) plan.add(&s.master, {s.end - s.begin}, DType::kF32);
  }
  const Device device = params_->empty() ? Device::kCPU : params_->front().value.device();
  block_ = plan.allocate(device);
  for (Segment& s : segments_)
    if (s.master.defined()) kernels::convert(s.master, s.value);
}

double AdamW::reduce_gradients() {
  SW_CHECK(dp_ && tp_, "reduce_gradients needs the data-parallel constructor AdamW(model, config, dp, zero1)");
  if (zero1_)
    reduce_scatter_gradients(*dp_, grad_block_);
  else
    all_reduce_gradients(*dp_, grad_block_);
  const GradSquares sq = grad_squares(
      segments_, [](const Segment& s) { return std::pair<Tensor, bool>(s.grad, s.param->shard_dim >= 0); });
  double sharded = sq.sharded, replicated = sq.replicated;
  if (zero1_) sum_norm_parts_over_dp(*dp_, sharded, replicated);  // each DP rank summed only its slice
  return combine_norm(sharded, replicated, *tp_);
}

float AdamW::step(float lr, double grad_norm) {
  ++step_;
  float clip = 1.0f;
  if (config_.clip_norm > 0) clip = static_cast<float>(std::min(1.0, config_.clip_norm / (grad_norm + 1e-6)));
  for (Segment& s : segments_) {
    const kernels::AdamWHyper hp{lr, config_.beta1, config_.beta2, config_.eps,
                                 s.param->weight_decay() ? config_.weight_decay : 0.0f};
    Tensor& master = s.master.defined() ? s.master : s.value;
    kernels::adamw_step(master, s.grad, s.m, s.v, s.copy_to.defined() ? &s.copy_to : nullptr, hp, step_, clip);
  }
  if (!zero1_) return clip;
  all_gather_parameters(*dp_, gather_block_);
  if (gather_block_.dtype() != DType::kF32)  // staged: copy each parameter out
    for (Parameter& p : *params_) {
      const int64_t at = offset_in(grad_block_, p.grad);
      flat(p.value).copy_from(gather_block_.rows(at, at + p.value.numel()));
    }
  return clip;
}

std::vector<std::pair<std::string, Tensor>> AdamW::state_tensors() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Segment& s : segments_) {
    const bool whole = s.begin == 0 && s.end == s.param->value.numel();
    const std::string suffix =
        s.param->name + (whole ? "" : "[" + std::to_string(s.begin) + ":" + std::to_string(s.end) + "]");
    out.emplace_back("m." + suffix, s.m);
    out.emplace_back("v." + suffix, s.v);
    if (s.master.defined()) out.emplace_back("master." + suffix, s.master);
  }
  return out;
}

std::map<std::string, std::string> AdamW::state_metadata() const {
  return {{"step", std::to_string(step_)},
          {"dp_rank", std::to_string(dp_ ? dp_->rank() : 0)},
          {"dp_size", std::to_string(dp_ ? dp_->size() : 1)},
          {"zero1", zero1_ ? "1" : "0"}};
}

void AdamW::save_state(const std::string& path) const {
  std::vector<std::pair<std::string, Tensor>> host;
  for (const auto& [name, t] : state_tensors()) host.emplace_back(name, t.to(Device::kCPU));
  write_safetensors(path, host, state_metadata());
}

void AdamW::load_state(const std::string& path) {
  const std::unique_ptr<SafetensorsFile> file = SafetensorsFile::open(path);
  std::map<std::string, std::string> saved = file->metadata(), ours = state_metadata();
  for (const char* key : {"dp_rank", "dp_size", "zero1"})
    if (saved[key] != ours[key])
      invalid_argument(path, ": optimizer state saved with dp_rank ", saved["dp_rank"], ", dp_size ", saved["dp_size"],
                       ", zero1 ", saved["zero1"], "; this run has dp_rank ", ours["dp_rank"], ", dp_size ",
                       ours["dp_size"], ", zero1 ", ours["zero1"], ": resume on the layout that wrote it");
  for (const auto& [name, t] : state_tensors()) {
    Tensor dst = t;
    read_tensor_exact(*file, name, dst, StatusCode::kInvalidArgument,
                      "optimizer state saved by another TP layout or model?");
  }
  try {
    step_ = std::stoll(saved["step"]);
  } catch (const std::exception&) {
    invalid_argument(path, ": optimizer state has no valid 'step' in its metadata");
  }
}

}  // namespace stepwise
