// CUDA attention, forward and backward, against the CPU reference: causal grouped-query attention over packed
// sequences in the varlen layout, including KV-cache layouts (cu_k longer than cu_q: decoding, and prefill with
// history), queries ahead of every key (no visible key: output 0, lse -inf), empty sequences and key rows owned by
// no sequence. Every head_dim is run in f32 (row-wise kernels) and bf16 (tensor-core kernels at 64 and 128).
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "gpu_test_util.h"
#include "kernels/ops.h"

namespace stepwise::testing {
namespace {

namespace k = kernels;

struct Case {
  const char* name;
  std::vector<int32_t> q_lens, k_lens;
  int64_t hq, hkv;
  int64_t extra_key_rows = 0;  // rows past cu_k[S] that no sequence owns
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

const Case kCases[] = {
    {"training_varlen", {1, 70, 130}, {1, 70, 130}, 4, 2},
    {"training_mha_long", {300}, {300}, 2, 2},
    {"training_mqa", {65, 64}, {65, 64}, 4, 1},
    {"prefill_with_history", {17, 40, 0}, {50, 40, 9}, 4, 2, 3},
    {"decode", {1, 1}, {200, 7}, 4, 2},
    {"queries_ahead_of_keys", {30}, {10}, 2, 1},
};

std::vector<int32_t> cumulative(const std::vector<int32_t>& lens) {
  std::vector<int32_t> cu{0};
  for (int32_t l : lens) cu.push_back(cu.back() + l);
  return cu;
}

class Attention : public ::testing::TestWithParam<std::tuple<Case, int64_t, DType>> {
 protected:
  void SetUp() override { SKIP_WITHOUT_GPU(); }
};

TEST_P(Attention, ForwardAndBackwardMatchTheCpu) {
  const auto& [c, hd, dtype] = GetParam();
  Rng rng(static_cast<uint64_t>(hd) * 31 + c.q_lens.size());
  const std::vector<int32_t> cu_q = cumulative(c.q_lens), cu_k = cumulative(c.k_lens);
  const int64_t nq = cu_q.back(), nk = cu_k.back() + c.extra_key_rows, s = static_cast<int64_t>(c.q_lens.size());
  k::SeqLayout cpu_seqs{Tensor::from_vector(cu_q, {s + 1}), Tensor::from_vector(cu_k, {s + 1}),
                        *std::max_element(c.q_lens.begin(), c.q_lens.end()),
                        *std::max_element(c.k_lens.begin(), c.k_lens.end())};
  k::SeqLayout gpu_seqs{cpu_seqs.cu_q.to(Device::kCUDA), cpu_seqs.cu_k.to(Device::kCUDA), cpu_seqs.max_q,
                        cpu_seqs.max_k};
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const double tol = tolerance(dtype);
  const std::string tag = std::string(c.name) + " hd " + std::to_string(hd) + " " + dtype_name(dtype) + ": ";

  const Operand q = random_operand({nq, c.hq, hd}, dtype, rng), kk = random_operand({nk, c.hkv, hd}, dtype, rng),
                v = random_operand({nk, c.hkv, hd}, dtype, rng), dout = random_operand({nq, c.hq, hd}, dtype, rng);
  Operand out = filled_operand({nq, c.hq, hd}, dtype, 0.0f), lse = filled_operand({nq, c.hq}, DType::kF32, 0.0f);
  k::attention_forward(out.cpu, lse.cpu, q.cpu, kk.cpu, v.cpu, cpu_seqs, scale);
  k::attention_forward(out.gpu, lse.gpu, q.gpu, kk.gpu, v.gpu, gpu_seqs, scale);
  expect_close(out.gpu, out.cpu, tol, tag + "out");
  expect_close(lse.gpu, lse.cpu, tol, tag + "lse");

  // The backward pass from the CPU's forward results on both sides, so that only the backward kernels differ.
  const Operand out_ref = operand_from(out.cpu, dtype);
  const Tensor lse_gpu = lse.cpu.to(Device::kCUDA);
  Operand dq = filled_operand({nq, c.hq, hd}, dtype, 0.0f), dk = filled_operand({nk, c.hkv, hd}, dtype, 7.0f),
          dv = filled_operand({nk, c.hkv, hd}, dtype, 7.0f);
  k::attention_backward(dq.cpu, dk.cpu, dv.cpu, dout.cpu, q.cpu, kk.cpu, v.cpu, out_ref.cpu, lse.cpu, cpu_seqs, scale);
  k::attention_backward(dq.gpu, dk.gpu, dv.gpu, dout.gpu, q.gpu, kk.gpu, v.gpu, out_ref.gpu, lse_gpu, gpu_seqs, scale);
  expect_close(dq.gpu, dq.cpu, tol, tag + "dq");
  expect_close(dk.gpu, dk.cpu, tol, tag + "dk");
  expect_close(dv.gpu, dv.cpu, tol, tag + "dv");
}

INSTANTIATE_TEST_SUITE_P(Cases, Attention,
                         ::testing::Combine(::testing::ValuesIn(kCases), ::testing::Values(16, 32, 64, 128),
                                            ::testing::Values(DType::kF32, DType::kBF16)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + "_hd" +
                                  std::to_string(std::get<1>(info.param)) + "_" +
                                  dtype_name(std::get<2>(info.param));
                         });

// A training-sized sequence on the tensor-core path: many tiles on both sides of the causal diagonal.
TEST(AttentionLong, Bf16Hd128SeqOf1000) {
  SKIP_WITHOUT_GPU();
  Rng rng(5);
  const int64_t n = 1000, hq = 4, hkv = 2, hd = 128;
  k::SeqLayout cpu_seqs{Tensor::from_vector(std::vector<int32_t>{0, 1000}, {2}),
                        Tensor::from_vector(std::vector<int32_t>{0, 1000}, {2}), n, n};
  k::SeqLayout gpu_seqs{cpu_seqs.cu_q.to(Device::kCUDA), cpu_seqs.cu_k.to(Device::kCUDA), n, n};
  const DType dt = DType::kBF16;
  const Operand q = random_operand({n, hq, hd}, dt, rng), kk = random_operand({n, hkv, hd}, dt, rng),
                v = random_operand({n, hkv, hd}, dt, rng), dout = random_operand({n, hq, hd}, dt, rng);
  Operand out = filled_operand({n, hq, hd}, dt, 0.0f), lse = filled_operand({n, hq}, DType::kF32, 0.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  k::attention_forward(out.cpu, lse.cpu, q.cpu, kk.cpu, v.cpu, cpu_seqs, scale);
  k::attention_forward(out.gpu, lse.gpu, q.gpu, kk.gpu, v.gpu, gpu_seqs, scale);
  expect_close(out.gpu, out.cpu, 1e-2, "long bf16 out");
  expect_close(lse.gpu, lse.cpu, 1e-2, "long bf16 lse");
  const Operand out_ref = operand_from(out.cpu, dt);
  Operand dq = filled_operand({n, hq, hd}, dt, 0.0f), dk = filled_operand({n, hkv, hd}, dt, 0.0f),
          dv = filled_operand({n, hkv, hd}, dt, 0.0f);
  k::attention_backward(dq.cpu, dk.cpu, dv.cpu, dout.cpu, q.cpu, kk.cpu, v.cpu, out_ref.cpu, lse.cpu, cpu_seqs, scale);
  k::attention_backward(dq.gpu, dk.gpu, dv.gpu, dout.gpu, q.gpu, kk.gpu, v.gpu, out_ref.gpu, lse.cpu.to(Device::kCUDA),
                        gpu_seqs, scale);
  expect_close(dq.gpu, dq.cpu, 1e-2, "long bf16 dq");
  expect_close(dk.gpu, dk.cpu, 1e-2, "long bf16 dk");
  expect_close(dv.gpu, dv.cpu, 1e-2, "long bf16 dv");
}

}  // namespace
}  // namespace stepwise::testing
