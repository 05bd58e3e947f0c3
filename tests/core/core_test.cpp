// Core: float-format conversions against known bit patterns, tensor views, planned arenas, RNG state.
#include <gtest/gtest.h>

#include <cmath>

#include "core/arena.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/tensor.h"

namespace stepwise {
namespace {

TEST(Dtype, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  // 1 + 2^-8 lies exactly between two bf16 values: ties go to the even mantissa (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3 * 2^-8 lies between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up to even.
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(Dtype, F16KnownValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);                 // overflow to inf
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  for (uint32_t h = 0; h < 0x7c00; h += 7) EXPECT_EQ(f32_to_f16(f16_to_f32(static_cast<uint16_t>(h))), h);
}

TEST(Tensor, ViewsShareMemory) {
  Tensor t = Tensor::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {3, 2});
  Tensor r = t.rows(1, 3);
  EXPECT_EQ(r.shape(), (Shape{2, 2}));
  EXPECT_EQ(r.data_as<float>()[0], 2.0f);
  r.data_as<float>()[0] = 9;
  EXPECT_EQ(t.data_as<float>()[2], 9.0f);
  EXPECT_EQ(t.reshape({6}).numel(), 6);
  EXPECT_THROW(t.reshape({4}), StatusError);
  EXPECT_THROW(t.rows(2, 4), StatusError);
  EXPECT_THROW(t.data_as<int32_t>(), StatusError);
}

TEST(Tensor, DtypeRoundTrip) {
  Tensor t = Tensor::from_vector(std::vector<float>{1.5f, -0.25f, 3.0f}, {3});
  EXPECT_EQ(t.to_dtype(DType::kBF16).to_dtype(DType::kF32).to_f32_vector(), t.to_f32_vector());
  EXPECT_EQ(t.to_dtype(DType::kF16).to_f32_vector(), t.to_f32_vector());
}

TEST(Arena, PlannedTensorsAreDisjointAlignedAndZeroed) {
  ArenaPlan plan;
  Tensor a, b;
  plan.add(&a, {3, 5}, DType::kF32);
  plan.add(&b, {7}, DType::kBF16);
  auto block = plan.allocate(Device::kCPU);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 256, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 256, 0u);
  EXPECT_GE(static_cast<char*>(b.data()) - static_cast<char*>(a.data()), static_cast<ptrdiff_t>(a.nbytes()));
  for (float x : a.to_f32_vector()) EXPECT_EQ(x, 0.0f);
}

TEST(Rng, StateRestoresTheSameStream) {
  Rng a(42);
  for (int i = 0; i < 10; ++i) a.next_u64();
  const Rng::State s = a.state();
  const uint64_t x = a.next_u64();
  Rng b(7);
  b.set_state(s);
  EXPECT_EQ(b.next_u64(), x);
  Rng c(42), d(43);
  EXPECT_NE(c.next_u64(), d.next_u64());
  double mean = 0;
  for (int i = 0; i < 20000; ++i) mean += c.normal();
  EXPECT_NEAR(mean / 20000, 0.0, 0.03);
}

}  // namespace
}  // namespace stepwise
