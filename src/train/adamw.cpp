// AdamW and global-norm clipping over the parameter list.
#include "train/adamw.h"

#include <cmath>

#include "core/arena.h"

namespace stepwise {

double global_grad_norm(const std::vector<Parameter>& params, Communicator& tp) {
  double sharded = 0, replicated = 0;
  for (const Parameter& p : params) (p.shard_dim >= 0 ? sharded : replicated) += kernels::sum_squares(p.grad);
  if (tp.size() > 1) {  // f32 is ample for a norm (the tests ask 1e-5)
    Tensor t = Tensor::from_vector(std::vector<float>{static_cast<float>(sharded)}, {1});
    tp.all_reduce(t, ReduceOp::kSum);
    sharded = t.data_as<float>()[0];
  }
  return std::sqrt(sharded + replicated);
}

AdamW::AdamW(std::vector<Parameter>& params, const AdamWConfig& config) : config_(config) {
  ArenaPlan plan;
  slots_.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    Slot& s = slots_[i];
    s.param = &params[i];
    plan.add(&s.m, params[i].value.shape(), DType::kF32);
    plan.add(&s.v, params[i].value.shape(), DType::kF32);
    if (params[i].value.dtype() != DType::kF32) plan.add(&s.master, params[i].value.shape(), DType::kF32);
  }
  const Device device = params.empty() ? Device::kCPU : params.front().value.device();
  block_ = plan.allocate(device);
  for (Slot& s : slots_)
    if (s.master.defined()) kernels::convert(s.master, s.param->value);
}

float AdamW::step(float lr, double grad_norm) {
  ++step_;
  float clip = 1.0f;
  if (config_.clip_norm > 0) clip = static_cast<float>(std::min(1.0, config_.clip_norm / (grad_norm + 1e-6)));
  for (Slot& s : slots_) {
    kernels::AdamWHyper hp;
    hp.lr = lr;
    hp.beta1 = config_.beta1;
    hp.beta2 = config_.beta2;
    hp.eps = config_.eps;
    hp.weight_decay = s.param->weight_decay() ? config_.weight_decay : 0.0f;
    Tensor& master = s.master.defined() ? s.master : s.param->value;
    kernels::adamw_step(master, s.param->grad, s.m, s.v, s.master.defined() ? &s.param->value : nullptr, hp, step_,
                        clip);
  }
  return clip;
}

std::vector<std::pair<std::string, Tensor>> AdamW::state_tensors() {
  std::vector<std::pair<std::string, Tensor>> out;
  for (Slot& s : slots_) {
    out.emplace_back("m." + s.param->name, s.m);
    out.emplace_back("v." + s.param->name, s.v);
    if (s.master.defined()) out.emplace_back("master." + s.param->name, s.master);
  }
  return out;
}

}  // namespace stepwise
