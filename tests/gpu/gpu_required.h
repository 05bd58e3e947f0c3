// What a GPU test does when there is no usable GPU. CI builds the GPU tests on machines without one, so there they
// skip; under tests/gpu/run_gpu_checks.sh (which sets STEPWISE_GPU_CHECKS=1) the GPU is the point of the run, and
// a driver that does not match the runtime or a device that is not visible must fail the test with CUDA's own error
// text instead of passing green.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace stepwise::testing {

// Empty when a CUDA device is usable; otherwise why not, in CUDA's words (error name and message).
std::string gpu_unusable_reason();
// True under the GPU check script (STEPWISE_GPU_CHECKS=1): a GPU test may not skip.
bool gpu_checks_running();

}  // namespace stepwise::testing

// Every GPU test starts with this (in SetUp or first in the test body): skips, or under the check script fails,
// when no GPU is usable.
#define SKIP_WITHOUT_GPU()                                                                                \
  do {                                                                                                    \
    const std::string gpu_unusable = ::stepwise::testing::gpu_unusable_reason();                          \
    if (!gpu_unusable.empty()) {                                                                          \
      if (::stepwise::testing::gpu_checks_running()) FAIL() << "STEPWISE_GPU_CHECKS=1: " << gpu_unusable; \
      GTEST_SKIP() << gpu_unusable;                                                                       \
    }                                                                                                     \
  } while (0)
