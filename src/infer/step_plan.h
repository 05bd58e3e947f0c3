// StepPlan: what the group runs in one serving step, as the scheduler on TP rank 0 decided it: blocks to copy
// (copy on write of shared prompt blocks) and the PagedStep itself. It travels to the other ranks as int32 words
// (broadcast_step_plan in distributed/tensor_parallel.h), so every rank runs the same step in lock-step.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "model/batch.h"

namespace stepwise {

struct StepPlan {
  enum class Kind : int32_t {
    kStep = 1,      // run `step`
    kIdle = 2,      // nothing to run; keeps the group's collectives inside the watchdog's deadline
    kShutdown = 3,  // the engine is done: the peers return
  };
  Kind kind = Kind::kStep;
  std::vector<std::pair<int32_t, int32_t>> block_copies;  // (from, to), before the step
  PagedStep step;
};

std::vector<int32_t> encode_step_plan(const StepPlan& plan);
// INTERNAL error naming the word offset when the words are not a plan (they come from our own rank 0).
StepPlan decode_step_plan(const std::vector<int32_t>& words);

}  // namespace stepwise
