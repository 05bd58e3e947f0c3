// The CPU matmul in both accumulations against the exact product, with the bounds that rounding analysis gives:
// float64 accumulation returns the exact result rounded once to f32; float32 accumulation (sgemm) stays within
// Higham's componentwise bound gamma_k |A| |B|. The setting is per thread and scoped.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "core/rng.h"
#include "kernels/ops.h"

namespace stepwise {
namespace {

namespace k = kernels;

struct Product {
  int64_t m, n, kk;
  bool trans_a, trans_b;
};

// f32 values whose products are exact in f64 (24-bit mantissas multiply into 48 bits), so the reference
// below is the exact sum up to the f64 rounding of k additions (relative 1e-16 * k: negligible here).
std::vector<float> random_f32(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(rng.normal());
  return v;
}

// Checks one product against its bound and returns it.
std::vector<float> check_product(const Product& p, k::CpuAccumulation accumulation) {
  const std::vector<float> a = random_f32(p.m * p.kk, 1), b = random_f32(p.kk * p.n, 2);
  const Tensor ta = Tensor::from_vector(a, p.trans_a ? Shape{p.kk, p.m} : Shape{p.m, p.kk});
  const Tensor tb = Tensor::from_vector(b, p.trans_b ? Shape{p.n, p.kk} : Shape{p.kk, p.n});
  // beta = 0 must ignore what C held: start from NaN.
  Tensor c = Tensor::from_vector(std::vector<float>(static_cast<size_t>(p.m * p.n), NAN), {p.m, p.n});
  {
    const k::ScopedCpuAccumulation scope(accumulation);
    k::matmul(c, ta, p.trans_a, tb, p.trans_b);
  }
  EXPECT_EQ(k::cpu_accumulation(), k::CpuAccumulation::kFloat64) << "the scope did not restore the setting";
  const std::vector<float> got = c.to_f32_vector();
  const double u = std::ldexp(1.0, -24);  // unit roundoff of f32
  const double gamma_k = p.kk * u / (1 - p.kk * u);
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t j = 0; j < p.n; ++j) {
      double exact = 0, magnitude = 0;
      for (int64_t l = 0; l < p.kk; ++l) {
        const double x = a[p.trans_a ? l * p.m + i : i * p.kk + l], y = b[p.trans_b ? j * p.kk + l : l * p.n + j];
        exact += x * y;
        magnitude += std::fabs(x * y);
      }
      const double err = std::fabs(got[i * p.n + j] - exact);
      if (accumulation == k::CpuAccumulation::kFloat64)  // one rounding to f32 (plus the f64 sum's 1e-16 k)
        EXPECT_LE(err, u * std::fabs(exact) + 1e-13 * magnitude) << i << "," << j;
      else  // Higham, Accuracy and Stability of Numerical Algorithms, (3.5), with the final rounding
        EXPECT_LE(err, gamma_k * magnitude + u * std::fabs(exact)) << i << "," << j;
    }
  return got;
}

TEST(CpuAccumulation, Float64IsTheExactProductRoundedOnce) {
  for (const Product& p : {Product{37, 29, 300, false, true}, Product{600, 70, 530, true, false},
                           Product{3, 1000, 64, false, true}})
    check_product(p, k::CpuAccumulation::kFloat64);
}

TEST(CpuAccumulation, Float32StaysWithinTheAccumulationBound) {
  for (const Product& p : {Product{37, 29, 300, false, true}, Product{600, 70, 530, true, false},
                           Product{33, 17, 2000, false, false}}) {
    const std::vector<float> f32 = check_product(p, k::CpuAccumulation::kFloat32);
    // And it is the f32 path: over thousands of sums some round differently from the exact result.
    EXPECT_NE(f32, check_product(p, k::CpuAccumulation::kFloat64));
  }
}

TEST(CpuAccumulation, TheSettingBelongsToTheThread) {
  const k::ScopedCpuAccumulation scope(k::CpuAccumulation::kFloat32);
  k::CpuAccumulation other = k::CpuAccumulation::kFloat32;
  std::thread([&] { other = k::cpu_accumulation(); }).join();
  EXPECT_EQ(other, k::CpuAccumulation::kFloat64);
  EXPECT_EQ(k::cpu_accumulation(), k::CpuAccumulation::kFloat32);
}

}  // namespace
}  // namespace stepwise
