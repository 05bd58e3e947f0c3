// CUDA paged KV cache (kernels/cuda/paged_attention.cu) against the CPU reference: paged_kv_write must give the
// CPU's pools exactly (it is a copy), and paged_attention_forward the CPU's output within the dtype's tolerance.
// Every case reads its keys through block tables drawn from a shuffled pool with spare blocks of random junk, and
// leaves -1 in the table entries past each sequence's length, so reading a wrong block or past a length shows up
// (in the output, or under compute-sanitizer). Sequence lengths around the block size (1, B-1, B, B+1) and past a
// thousand keys; decoding (Lq = 1, several KV splits and empty ones) and a mixed batch with prefill chunks (Lq > 1,
// with and without cached keys); GQA groups of 2 (16/8, 4/2), 5 (Qwen3-14B's 40/8, a padded head chunk) and 12
// (12/1, two chunks per KV head); head_dim 32 and 128; f32 and bf16. Run by tests/gpu/run_gpu_checks.sh, with
// the rest of gpu_tests and again under its memcheck step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "gpu_test_util.h"
#include "kernels/ops.h"

namespace stepwise::testing {
namespace {

namespace k = kernels;

struct Case {
  const char* name;
  std::vector<int32_t> q_lens, seq_lens;  // per sequence: its new tokens (queries) and its keys after this step
  int64_t block_size;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

const Case kCases[] = {
    {"decode", {1, 1, 1, 1, 1}, {1, 15, 16, 17, 1037}, 16},
    {"decode_batch1_long", {1}, {1500}, 32},
    {"mixed_prefill", {1, 37, 1, 5, 16}, {300, 97, 17, 5, 16}, 16},
};

struct Heads {
  int64_t hq, hkv;
};
void PrintTo(const Heads& h, std::ostream* os) { *os << h.hq << "/" << h.hkv; }

const Heads kHeads[] = {{16, 8}, {4, 2}, {40, 8}, {12, 1}};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

class PagedAttention : public ::testing::TestWithParam<std::tuple<Case, Heads, int64_t, DType>> {
 protected:
  void SetUp() override { SKIP_WITHOUT_GPU(); }
};

TEST_P(PagedAttention, KvWriteAndForwardMatchTheCpu) {
  const auto& [c, heads, hd, dtype] = GetParam();
  Rng rng(static_cast<uint64_t>(hd) * 131 + static_cast<uint64_t>(heads.hq) * 7 + c.seq_lens.size());
  const int64_t s = static_cast<int64_t>(c.seq_lens.size()), bs = c.block_size;
  const std::string tag = std::string(c.name) + " " + std::to_string(heads.hq) + "/" + std::to_string(heads.hkv) +
                          " hd " + std::to_string(hd) + " " + dtype_name(dtype) + ": ";

  // Block tables: each sequence takes the next blocks of a shuffled pool that has spare blocks no sequence uses.
  int64_t used = 0, max_blocks = 0;
  for (int32_t len : c.seq_lens) {
    used += ceil_div(len, bs);
    max_blocks = std::max(max_blocks, ceil_div(len, bs) + 1);  // one entry past the longest, left unused
  }
  const int64_t num_blocks = used + 7;
  std::vector<int32_t> order(static_cast<size_t>(num_blocks));
  std::iota(order.begin(), order.end(), 0);
  for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  std::vector<int32_t> tables(static_cast<size_t>(s * max_blocks), -1), cu_q{0}, slots;
  size_t next = 0;
  for (int64_t i = 0; i < s; ++i) {
    const int64_t lq = c.q_lens[i], lk = c.seq_lens[i];
    int32_t* table = tables.data() + i * max_blocks;
    for (int64_t b = 0; b < ceil_div(lk, bs); ++b) table[b] = order[next++];
    for (int64_t p = lk - lq; p < lk; ++p) slots.push_back(static_cast<int32_t>(table[p / bs] * bs + p % bs));
    cu_q.push_back(cu_q.back() + static_cast<int32_t>(lq));
  }
  const int64_t nq = cu_q.back();
  k::PagedLayout cpu_layout{Tensor::from_vector(cu_q, {s + 1}), Tensor::from_vector(c.seq_lens, {s}),
                            Tensor::from_vector(tables, {s, max_blocks}), bs,
                            *std::max_element(c.q_lens.begin(), c.q_lens.end()),
                            *std::max_element(c.seq_lens.begin(), c.seq_lens.end())};
  k::PagedLayout gpu_layout{cpu_layout.cu_q.to(Device::kCUDA), cpu_layout.seq_lens.to(Device::kCUDA),
                            cpu_layout.block_tables.to(Device::kCUDA), bs, cpu_layout.max_q, cpu_layout.max_k};

  // The pools start as random values (cached keys, and junk in the spare blocks); the step writes its new rows.
  Operand k_pool = random_operand({num_blocks * bs, heads.hkv, hd}, dtype, rng),
          v_pool = random_operand({num_blocks * bs, heads.hkv, hd}, dtype, rng);
  const Operand k_new = random_operand({nq, heads.hkv, hd}, dtype, rng),
                v_new = random_operand({nq, heads.hkv, hd}, dtype, rng),
                q = random_operand({nq, heads.hq, hd}, dtype, rng);
  const Tensor slots_cpu = Tensor::from_vector(slots, {nq});
  k::paged_kv_write(k_pool.cpu, v_pool.cpu, k_new.cpu, v_new.cpu, slots_cpu);
  k::paged_kv_write(k_pool.gpu, v_pool.gpu, k_new.gpu, v_new.gpu, slots_cpu.to(Device::kCUDA));
  expect_close(k_pool.gpu, k_pool.cpu, 0.0, tag + "k_pool");
  expect_close(v_pool.gpu, v_pool.cpu, 0.0, tag + "v_pool");

  // Both sides attend over the same (dtype-rounded) values, so only the arithmetic differs. f32: the GPU's f32
  // online softmax against the CPU's f64 one, far below 1e-5 of the largest output. bf16: the GPU still computes in
  // f32 but rounds its output to bf16 (8 significant bits: off by at most 2^-9, about 2e-3, of the value), within the
  // 1e-2 the docs give for bf16. NaN in `out` makes any element the kernels miss fail.
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  Operand out = filled_operand({nq, heads.hq, hd}, dtype, NAN);
  k::paged_attention_forward(out.cpu, q.cpu, k_pool.cpu, v_pool.cpu, cpu_layout, scale);
  k::paged_attention_forward(out.gpu, q.gpu, k_pool.gpu, v_pool.gpu, gpu_layout, scale);
  expect_close(out.gpu, out.cpu, tolerance(dtype), tag + "out");
}

INSTANTIATE_TEST_SUITE_P(Cases, PagedAttention,
                         ::testing::Combine(::testing::ValuesIn(kCases), ::testing::ValuesIn(kHeads),
                                            ::testing::Values(32, 128), ::testing::Values(DType::kF32, DType::kBF16)),
                         [](const auto& info) {
                           const Heads& h = std::get<1>(info.param);
                           return std::string(std::get<0>(info.param).name) + "_hq" + std::to_string(h.hq) + "_hkv" +
                                  std::to_string(h.hkv) + "_hd" + std::to_string(std::get<2>(info.param)) + "_" +
                                  dtype_name(std::get<3>(info.param));
                         });

}  // namespace
}  // namespace stepwise::testing
