// Warmup + cosine/linear/constant learning-rate schedule.
#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/status.h"

namespace stepwise {

const char* lr_decay_name(LrDecay decay) {
  switch (decay) {
    case LrDecay::kCosine: return "cosine";
    case LrDecay::kLinear: return "linear";
    case LrDecay::kConstant: return "constant";
  }
  return "?";
}

double learning_rate(const LrSchedule& s, int64_t step) {
  if (step < s.warmup_steps) return s.lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  if (s.decay == LrDecay::kConstant) return s.lr;
  const int64_t span = s.total_steps - 1 - s.warmup_steps;
  const double p = span > 0 ? std::clamp(static_cast<double>(step - s.warmup_steps) / span, 0.0, 1.0) : 1.0;
  const double shape = s.decay == LrDecay::kCosine ? 0.5 * (1 + std::cos(M_PI * p)) : 1 - p;
  return s.min_lr + (s.lr - s.min_lr) * shape;
}

}  // namespace stepwise
