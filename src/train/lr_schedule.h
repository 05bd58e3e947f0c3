// The learning-rate schedule: linear warmup from 0, then cosine (or linear) decay to min_lr at the last step, or
// constant.
#pragma once

#include <cstdint>
#include <string>

namespace stepwise {

enum class LrDecay { kCosine, kLinear, kConstant };
const char* lr_decay_name(LrDecay decay);  // "cosine", "linear", "constant" (train_config.h reads them)

struct LrSchedule {
  double lr = 0;
  double min_lr = 0;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  LrDecay decay = LrDecay::kCosine;
};

// The rate of optimizer step `step` (0-based): lr * (step + 1) / warmup_steps during warmup, then the decay from lr
// to min_lr over the remaining steps (min_lr at step total_steps - 1).
double learning_rate(const LrSchedule& s, int64_t step);

}  // namespace stepwise
