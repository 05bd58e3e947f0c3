// The fused CUDA kernels against their CPU references on fresh random inputs, in f32 (tolerance 1e-5) and bf16
// (1e-2): the residual add with the RMSNorm after it (whose stored sum is exact, and whose outputs equal the unfused
// CUDA add and rmsnorm_forward's bit for bit), Qwen3's per-head q/k norm with the rotary embedding, and the greedy
// argmax over logit rows (exact, at Qwen3's padded vocabulary). Shapes cover each kernel's packed and unpacked paths
// and, for the fused add, rows past its register cache. Also the i32 increment a recorded decode step uses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/ops.h"

namespace stepwise::testing {
namespace {

namespace k = kernels;

class FusedKernels : public GpuDtypeTest {
 protected:
  Rng rng_{4321};
};

TEST_P(FusedKernels, AddRmsNormMatchesTheUnfusedPair) {
  // Hidden sizes in the register cache's three sizes and past it (8192), and a row length that defeats 16-byte packs.
  for (const auto& [n, d] :
       std::vector<std::pair<int64_t, int64_t>>{{37, 1024}, {64, 2048}, {1, 5120}, {9, 2560}, {5, 1000}, {3, 8192}}) {
    const std::string shape = " [" + std::to_string(n) + ", " + std::to_string(d) + "]";
    const Operand x = random_operand({n, d}, dt(), rng_), w = random_operand({d}, dt(), rng_);
    Operand sum = random_operand({n, d}, dt(), rng_, 4.0f);  // the residual stream, larger than the branch output
    Operand unfused = operand_from(sum.cpu, dt());
    Operand y = filled_operand({n, d}, dt(), 0.0f), rstd = filled_operand({n}, DType::kF32, 0.0f);
    k::add_rmsnorm_forward(sum.cpu, y.cpu, rstd.cpu, x.cpu, w.cpu, 1e-6f);
    k::add_rmsnorm_forward(sum.gpu, y.gpu, rstd.gpu, x.gpu, w.gpu, 1e-6f);
    // Both sides add in f32 (the same one rounding) and the GPU stores the sum in dt(): the CPU's, rounded to dt().
    expect_close(sum.gpu, sum.cpu.to_dtype(dt()), 0.0, tag("add_rmsnorm_forward sum (exact)" + shape));
    expect_close(y.gpu, y.cpu, tol(), tag("add_rmsnorm_forward y" + shape));
    expect_close(rstd.gpu, rstd.cpu, tol(), tag("add_rmsnorm_forward rstd" + shape));
    // The norm reads the sum as stored and sums the squares in rmsnorm_forward's order: the unfused CUDA ops' result.
    Tensor y_unfused = Tensor::zeros({n, d}, dt(), Device::kCUDA);
    Tensor rstd_unfused = Tensor::zeros({n}, DType::kF32, Device::kCUDA);
    k::add(unfused.gpu, x.gpu);
    k::rmsnorm_forward(y_unfused, rstd_unfused, unfused.gpu, w.gpu, 1e-6f);
    expect_close(y.gpu, y_unfused, 0.0, tag("add_rmsnorm_forward y = unfused CUDA (exact)" + shape));
    expect_close(rstd.gpu, rstd_unfused, 0.0, tag("add_rmsnorm_forward rstd = unfused CUDA (exact)" + shape));
  }
}

TEST_P(FusedKernels, HeadNormRopeMatchesTheCpu) {
  const int64_t max_pos = 4096;
  for (const auto& [hd, heads] : std::vector<std::pair<int64_t, int64_t>>{{128, 16}, {64, 8}, {256, 4}}) {
    const Tensor table = k::rope_table(max_pos, hd, 1e6, DType::kBF16);
    const Tensor table_gpu = table.to(Device::kCUDA);
    const Operand w = random_operand({hd}, dt(), rng_);
    for (int64_t n : {1, 7, 300}) {
      // Positions over the whole table, its first and last rows included.
      std::vector<int32_t> pos(static_cast<size_t>(n));
      for (auto& p : pos) p = static_cast<int32_t>(rng_.below(max_pos));
      pos.front() = 0;
      pos.back() = static_cast<int32_t>(max_pos - 1);
      const Tensor positions = Tensor::from_vector(pos, {n}), positions_gpu = positions.to(Device::kCUDA);
      const Operand x = random_operand({n, heads, hd}, dt(), rng_, 3.0f);
      Operand y = filled_operand({n, heads, hd}, dt(), 0.0f), rstd = filled_operand({n * heads}, DType::kF32, 0.0f);
      k::head_norm_rope_forward(y.cpu, rstd.cpu, x.cpu, w.cpu, positions, table, 1e-6f);
      k::head_norm_rope_forward(y.gpu, rstd.gpu, x.gpu, w.gpu, positions_gpu, table_gpu, 1e-6f);
      const std::string shape =
          " [" + std::to_string(n) + ", " + std::to_string(heads) + ", " + std::to_string(hd) + "]";
      expect_close(y.gpu, y.cpu, tol(), tag("head_norm_rope_forward y" + shape));
      expect_close(rstd.gpu, rstd.cpu, tol(), tag("head_norm_rope_forward rstd" + shape));
    }
  }
}

// A position outside the table cannot raise an error from the kernel: that token's rows become NaN (as rope_apply's
// do on CUDA) and the other tokens are unaffected.
TEST_P(FusedKernels, HeadNormRopePositionOutsideTheTableGivesNan) {
  const int64_t n = 3, heads = 4, hd = 128, max_pos = 64;
  const Tensor table = k::rope_table(max_pos, hd, 1e6, DType::kBF16);
  const Operand x = random_operand({n, heads, hd}, dt(), rng_), w = random_operand({hd}, dt(), rng_);
  const Tensor positions = Tensor::from_vector(std::vector<int32_t>{5, max_pos, -1}, {n});
  Operand y = filled_operand({n, heads, hd}, dt(), 0.0f), rstd = filled_operand({n * heads}, DType::kF32, 0.0f);
  k::head_norm_rope_forward(y.gpu, rstd.gpu, x.gpu, w.gpu, positions.to(Device::kCUDA), table.to(Device::kCUDA), 1e-6f);
  Tensor y0 = y.cpu.rows(0, 1), rstd0 = rstd.cpu.rows(0, heads);
  k::head_norm_rope_forward(y0, rstd0, x.cpu.rows(0, 1), w.cpu, positions.rows(0, 1), table, 1e-6f);
  expect_close(y.gpu.rows(0, 1), y0, tol(), tag("head_norm_rope_forward y of the token inside the table"));
  expect_close(rstd.gpu.rows(0, heads), rstd0, tol(), tag("head_norm_rope_forward rstd of the token inside"));
  const std::vector<float> out = y.gpu.to(Device::kCPU).to_f32_vector(), s = rstd.gpu.to(Device::kCPU).to_f32_vector();
  EXPECT_TRUE(std::all_of(out.begin() + heads * hd, out.end(), [](float v) { return std::isnan(v); }))
      << "y of positions 64 and -1 (a 64-row table)";
  EXPECT_TRUE(std::all_of(s.begin(), s.end(), [](float v) { return std::isfinite(v) && v > 0; }))
      << "rstd of every row";
}

INSTANTIATE_TEST_SUITE_P(Dtypes, FusedKernels, ::testing::Values(DType::kF32, DType::kBF16), dtype_param_name);

class FusedKernelsF32Only : public GpuTest {
 protected:
  Rng rng_{77};
};

// Greedy decoding's argmax at Qwen3's vocabulary (151,669 tokens in 151,936 padded embedding rows). Every row holds
// its largest value in the padded tail, which must not be chosen, and the largest counted value at planted columns:
// twice at random columns, at two neighbours (in one float4 or across two), at the last counted column only, or at
// every counted column; ties go to the lowest column. An odd row length takes the unpacked path.
TEST_F(FusedKernelsF32Only, ArgmaxRowsIgnoresThePaddedTailAndTiesGoToTheLowestColumn) {
  struct Case {
    int64_t n, v, columns;
  };
  const auto column = [&](int64_t count) { return static_cast<int64_t>(rng_.below(static_cast<uint64_t>(count))); };
  for (const Case& c : {Case{1, 151936, 151669}, Case{64, 151936, 151669}, Case{8, 50001, 49999}}) {
    Tensor logits = Tensor::empty({c.n, c.v}, DType::kF32);
    std::vector<int32_t> expected(static_cast<size_t>(c.n));
    for (int64_t r = 0; r < c.n; ++r) {
      float* row = logits.data_as<float>() + r * c.v;
      for (int64_t i = 0; i < c.v; ++i) row[i] = rng_.normal();
      row[c.columns + column(c.v - c.columns)] = 100.0f;
      int64_t best = 0;
      switch (r % 4) {
        case 0: {  // two random columns
          const int64_t a = column(c.columns), b = column(c.columns);
          row[a] = row[b] = 50.0f;
          best = std::min(a, b);
          break;
        }
        case 1:  // neighbours
          best = column(c.columns - 1);
          row[best] = row[best + 1] = 50.0f;
          break;
        case 2:  // the last counted column
          best = c.columns - 1;
          row[best] = 50.0f;
          break;
        default:  // every counted column: column 0
          std::fill(row, row + c.columns, 0.5f);
      }
      expected[static_cast<size_t>(r)] = static_cast<int32_t>(best);
    }
    Tensor ids = Tensor::empty({c.n}, DType::kI32), ids_gpu = Tensor::empty({c.n}, DType::kI32, Device::kCUDA);
    k::argmax_rows(ids, logits, c.columns);
    k::argmax_rows(ids_gpu, logits.to(Device::kCUDA), c.columns);
    const Tensor ours = ids_gpu.to(Device::kCPU);
    const int32_t* ref = ids.data_as<int32_t>();
    const int32_t* got = ours.data_as<int32_t>();
    const std::string shape =
        "[" + std::to_string(c.n) + ", " + std::to_string(c.v) + "] over " + std::to_string(c.columns) + " columns";
    EXPECT_EQ(std::vector<int32_t>(ref, ref + c.n), expected) << "the CPU reference, " << shape;
    EXPECT_EQ(std::vector<int32_t>(got, got + c.n), expected) << "argmax_rows on CUDA, " << shape;
    std::printf("  %-48s exact\n", ("argmax_rows " + shape).c_str());
  }
}

// The recorded decode step advances its positions and lengths with increment: a negative start, a negative delta, and
// more elements than one block covers.
TEST_F(FusedKernelsF32Only, IncrementAddsToEveryElement) {
  std::vector<int32_t> values(1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<int32_t>(i) - 300;
  for (const int32_t delta : {1, -7}) {
    Tensor x = Tensor::from_vector(values, {1000}).to(Device::kCUDA);
    k::increment(x, delta);
    const Tensor back = x.to(Device::kCPU);
    for (size_t i = 0; i < values.size(); ++i)
      ASSERT_EQ(back.data_as<int32_t>()[i], values[i] + delta) << "element " << i << ", delta " << delta;
  }
}

}  // namespace
}  // namespace stepwise::testing
