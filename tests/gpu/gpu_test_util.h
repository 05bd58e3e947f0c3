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

// A kernel test run once per compute dtype (f32 and bf16): skips without a GPU; dt() is the dtype, tol() its
// tolerance, tag() names a check with it. Instantiate with dtype_param_name, which names each instance by its dtype.
class GpuDtypeTest : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override { SKIP_WITHOUT_GPU(); }
  DType dt() const { return GetParam(); }
  double tol() const { return tolerance(GetParam()); }
  std::string tag(const std::string& what) const { return what + " " + dtype_name(GetParam()); }
};
std::string dtype_param_name(const ::testing::TestParamInfo<DType>& info);

// A GPU test without a dtype parameter: skips without a GPU.
class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override { SKIP_WITHOUT_GPU(); }
};

}  // namespace stepwise::testing
