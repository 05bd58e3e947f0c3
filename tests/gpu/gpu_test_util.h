// Helpers for the GPU tests: random operands that hold the same values on the CPU (f32, the reference) and on the
// GPU (in the dtype under test), and the comparison the checks use.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core/memory.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "gpu_required.h"  // SKIP_WITHOUT_GPU()

namespace stepwise::testing {

// The tolerance of a comparison against the CPU reference: fp32 1e-5, bf16 1e-2 (relative to the largest value).
double tolerance(DType dtype);

// One operand on both devices: `cpu` is f32 with values exactly representable in `dtype`, `gpu` holds them in dtype.
struct Operand {
  Tensor cpu, gpu;
};
Operand random_operand(const Shape& shape, DType dtype, Rng& rng, float scale = 1.0f);
Operand operand_from(const Tensor& cpu_f32, DType dtype);  // rounds cpu_f32 to dtype first
Operand filled_operand(const Shape& shape, DType dtype, float value);

// max |ours - ref| / max |ref|, over elements where ref is finite; any element where ours is NaN, or differs from
// an infinite ref, makes it +inf. ours may live on either device and in any float dtype.
double rel_error(const Tensor& ours, const Tensor& ref);

// EXPECT that rel_error(ours, ref) <= tol, printing the error either way (the run log keeps the margins).
void expect_close(const Tensor& ours, const Tensor& ref, double tol, const std::string& what);

}  // namespace stepwise::testing
