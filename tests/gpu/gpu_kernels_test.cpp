// Every CUDA kernel except attention (gpu_attention_test.cpp) against the CPU reference on fresh random inputs, in
// f32 (tolerance 1e-5) and bf16 (1e-2): matmul in all transpose/accumulate forms, RMSNorm, RoPE, SwiGLU, embedding,
// cross-entropy (the kernels, and the chunked LM head loss at Qwen3's full 151,936-word vocabulary), AdamW and the
// elementwise helpers. Inputs are rounded to the dtype under test first, so the CPU sees exactly the GPU's operands
// and the error measured is the GPU's own.
#include <gtest/gtest.h>

#include <cmath>

#include "distributed/communicator.h"
#include "gpu_test_util.h"
#include "kernels/ops.h"
#include "model/lm_head_loss.h"

namespace stepwise::testing {
namespace {

namespace k = kernels;

class Kernels : public GpuDtypeTest {
 protected:
  Rng rng_{1234};
};

TEST_P(Kernels, MatmulEveryTransposeAndAccumulation) {
  const int64_t m = 37, n = 53, kk = 71;
  std::vector<DType> outs{DType::kF32};  // bf16 operands also write bf16 outputs
  if (dt() != DType::kF32) outs.push_back(dt());
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (float beta : {0.0f, 1.0f})
        for (DType out : outs) {
          const Operand a = random_operand(ta ? Shape{kk, m} : Shape{m, kk}, dt(), rng_);
          const Operand b = random_operand(tb ? Shape{n, kk} : Shape{kk, n}, dt(), rng_);
          // beta = 0 must ignore what C holds, NaN included.
          Operand c = beta == 0.0f ? filled_operand({m, n}, out, NAN) : random_operand({m, n}, out, rng_);
          if (beta == 0.0f) c.cpu.zero();
          k::matmul(c.cpu, a.cpu, ta, b.cpu, tb, 0.5f, beta);
          k::matmul(c.gpu, a.gpu, ta, b.gpu, tb, 0.5f, beta);
          expect_close(c.gpu, c.cpu, tolerance(out == DType::kF32 ? dt() : out),
                       tag("matmul" + std::string(ta ? " A^T" : " A") + (tb ? " B^T" : " B") +
                           (beta != 0.0f ? " beta=1" : "") + " into " + dtype_name(out)));
        }
}

TEST_P(Kernels, MatmulLargeThroughTensorCores) {
  // The shapes of a linear layer and its two backward products at a size where cuBLASLt picks tensor-core kernels.
  const Operand x = random_operand({512, 1024}, dt(), rng_), w = random_operand({768, 1024}, dt(), rng_, 0.05f);
  Operand y = filled_operand({512, 768}, dt(), 0.0f);
  k::linear_forward(y.cpu, x.cpu, w.cpu);
  k::linear_forward(y.gpu, x.gpu, w.gpu);
  expect_close(y.gpu, y.cpu, tol(), tag("linear_forward 512x1024 @ 1024x768"));
  const Operand dy = random_operand({512, 768}, dt(), rng_);
  Operand dw = random_operand({768, 1024}, DType::kF32, rng_);  // weight gradients are f32 and accumulate
  k::linear_backward_weight(dw.cpu, dy.cpu, x.cpu);
  k::linear_backward_weight(dw.gpu, dy.gpu, x.gpu);
  expect_close(dw.gpu, dw.cpu, tol(), tag("linear_backward_weight (+= into f32)"));
  Operand dx = random_operand({512, 1024}, dt(), rng_);
  k::linear_backward_input(dx.cpu, dy.cpu, w.cpu, true);
  k::linear_backward_input(dx.gpu, dy.gpu, w.gpu, true);
  expect_close(dx.gpu, dx.cpu, tol(), tag("linear_backward_input (accumulate)"));
}

TEST_P(Kernels, RmsNormForwardAndBackward) {
  // Hidden sizes of real and tiny models, a head dimension, and a row length that defeats 16-byte packs.
  for (const auto& [n, d] : std::vector<std::pair<int64_t, int64_t>>{{37, 1024}, {300, 128}, {5, 48}, {9, 50}}) {
    const std::string shape = " [" + std::to_string(n) + ", " + std::to_string(d) + "]";
    const Operand x = random_operand({n, d}, dt(), rng_), w = random_operand({d}, dt(), rng_);
    Operand y = filled_operand({n, d}, dt(), 0.0f), rstd = filled_operand({n}, DType::kF32, 0.0f);
    k::rmsnorm_forward(y.cpu, rstd.cpu, x.cpu, w.cpu, 1e-6f);
    k::rmsnorm_forward(y.gpu, rstd.gpu, x.gpu, w.gpu, 1e-6f);
    expect_close(y.gpu, y.cpu, tol(), tag("rmsnorm_forward y" + shape));
    expect_close(rstd.gpu, rstd.cpu, tol(), tag("rmsnorm_forward rstd" + shape));
    for (bool accumulate : {false, true}) {
      const Operand dy = random_operand({n, d}, dt(), rng_);
      Operand dx = random_operand({n, d}, dt(), rng_), dw = random_operand({d}, DType::kF32, rng_);
      // Both sides use the CPU's rstd (the GPU's is checked above).
      const Tensor rstd_gpu = rstd.cpu.to(Device::kCUDA);
      k::rmsnorm_backward(dx.cpu, dw.cpu, dy.cpu, x.cpu, w.cpu, rstd.cpu, accumulate);
      k::rmsnorm_backward(dx.gpu, dw.gpu, dy.gpu, x.gpu, w.gpu, rstd_gpu, accumulate);
      const std::string mode = accumulate ? " accumulate" : "";
      expect_close(dx.gpu, dx.cpu, tol(), tag("rmsnorm_backward dx" + shape + mode));
      expect_close(dw.gpu, dw.cpu, tol(), tag("rmsnorm_backward dw" + shape + mode));
    }
    // dx aliasing dy, as the per-head q/k norms call it.
    Operand g = random_operand({n, d}, dt(), rng_), dw = filled_operand({d}, DType::kF32, 0.0f);
    const Tensor rstd_gpu = rstd.cpu.to(Device::kCUDA);
    k::rmsnorm_backward(g.cpu, dw.cpu, g.cpu, x.cpu, w.cpu, rstd.cpu, false);
    k::rmsnorm_backward(g.gpu, dw.gpu, g.gpu, x.gpu, w.gpu, rstd_gpu, false);
    expect_close(g.gpu, g.cpu, tol(), tag("rmsnorm_backward in place" + shape));
  }
}

TEST_P(Kernels, RopeForwardAndInverse) {
  for (int64_t hd : {32, 128}) {
    const int64_t n = 23, heads = 5, max_pos = 64;
    const Tensor table = k::rope_table(max_pos, hd, 1e6, DType::kBF16);
    const Tensor table_gpu = table.to(Device::kCUDA);
    std::vector<int32_t> pos(static_cast<size_t>(n));
    for (auto& p : pos) p = static_cast<int32_t>(rng_.below(max_pos));
    const Tensor positions = Tensor::from_vector(pos, {n}), positions_gpu = positions.to(Device::kCUDA);
    for (bool inverse : {false, true}) {
      Operand x = random_operand({n, heads, hd}, dt(), rng_);
      k::rope_apply(x.cpu, positions, table, inverse);
      k::rope_apply(x.gpu, positions_gpu, table_gpu, inverse);
      expect_close(x.gpu, x.cpu, tol(),
                   tag("rope_apply hd " + std::to_string(hd) + (inverse ? " inverse" : "")));
    }
  }
}

TEST_P(Kernels, SwigluForwardAndBackward) {
  for (int64_t f : {160, 50}) {
    const int64_t n = 19;
    const Operand gu = random_operand({n, 2 * f}, dt(), rng_, 2.0f), d = random_operand({n, f}, dt(), rng_);
    Operand out = filled_operand({n, f}, dt(), 0.0f), dgu = filled_operand({n, 2 * f}, dt(), 0.0f);
    k::swiglu_forward(out.cpu, gu.cpu);
    k::swiglu_forward(out.gpu, gu.gpu);
    expect_close(out.gpu, out.cpu, tol(), tag("swiglu_forward F " + std::to_string(f)));
    k::swiglu_backward(dgu.cpu, d.cpu, gu.cpu);
    k::swiglu_backward(dgu.gpu, d.gpu, gu.gpu);
    expect_close(dgu.gpu, dgu.cpu, tol(), tag("swiglu_backward F " + std::to_string(f)));
  }
}

TEST_P(Kernels, EmbeddingForwardAndBackward) {
  // A vocab-parallel shard: rows [20, 120) of the vocabulary; ids repeat and some fall outside the shard.
  const int64_t v_local = 100, d = 64, n = 200, start = 20;
  std::vector<int32_t> id_values(static_cast<size_t>(n));
  for (auto& id : id_values) id = static_cast<int32_t>(rng_.below(150));
  const Tensor ids = Tensor::from_vector(id_values, {n}), ids_gpu = ids.to(Device::kCUDA);
  const Operand table = random_operand({v_local, d}, dt(), rng_);
  Operand out = filled_operand({n, d}, dt(), 0.0f);
  k::embedding_forward(out.cpu, table.cpu, ids, start);
  k::embedding_forward(out.gpu, table.gpu, ids_gpu, start);
  expect_close(out.gpu, out.cpu, 0.0, tag("embedding_forward (a copy: exact)"));
  const Operand dout = random_operand({n, d}, dt(), rng_);
  Operand dtable = random_operand({v_local, d}, DType::kF32, rng_);
  k::embedding_backward(dtable.cpu, dout.cpu, ids, start);
  k::embedding_backward(dtable.gpu, dout.gpu, ids_gpu, start);
  // Same additions in the same (token) order on both sides.
  expect_close(dtable.gpu, dtable.cpu, 0.0, tag("embedding_backward (same order: exact)"));
}

// The backward pass's grouping by row on the device: long runs (20,000 tokens over 300 rows, a quarter of them
// outside the shard [1000, 1300)), a single token, and no token in range. Run in this order, the scratch grows and
// is then reused by a smaller call.
TEST_P(Kernels, EmbeddingBackwardLongRunsAndEdgeCases) {
  const int64_t v_local = 300, d = 160, start = 1000;
  std::vector<int32_t> many(20000), outside(64);
  for (auto& id : many) id = static_cast<int32_t>(start - 50 + static_cast<int64_t>(rng_.below(v_local + 100)));
  for (int64_t i = 0; i < 64; ++i)  // alternately below and above the shard
    outside[static_cast<size_t>(i)] = static_cast<int32_t>(i % 2 ? start + v_local + i : start - 1 - i);
  const std::vector<std::pair<std::string, std::vector<int32_t>>> cases{
      {"one token", {static_cast<int32_t>(start + 7)}}, {"20000 tokens over 300 rows", many},
      {"no token in range", outside}};
  for (const auto& [name, id_values] : cases) {
    const int64_t n = static_cast<int64_t>(id_values.size());
    const Tensor ids = Tensor::from_vector(id_values, {n}), ids_gpu = ids.to(Device::kCUDA);
    const Operand dout = random_operand({n, d}, dt(), rng_);
    Operand dtable = random_operand({v_local, d}, DType::kF32, rng_);
    k::embedding_backward(dtable.cpu, dout.cpu, ids, start);
    k::embedding_backward(dtable.gpu, dout.gpu, ids_gpu, start);
    expect_close(dtable.gpu, dtable.cpu, 0.0, tag("embedding_backward " + name + " (same order: exact)"));
  }
}

TEST_P(Kernels, AddScale) {
  for (int64_t numel : {4096, 1001}) {
    const Operand x = random_operand({numel}, dt(), rng_);
    Operand y = random_operand({numel}, dt(), rng_);
    k::add(y.cpu, x.cpu, -0.75f);
    k::add(y.gpu, x.gpu, -0.75f);
    expect_close(y.gpu, y.cpu, tol(), tag("add " + std::to_string(numel)));
    k::scale(y.cpu, 3.0f);
    k::scale(y.gpu, 3.0f);
    expect_close(y.gpu, y.cpu, tol(), tag("scale " + std::to_string(numel)));
  }
}

// A list of several sizes (one empty, one needing many blocks) in one call, against the CPU one tensor at a time.
TEST_P(Kernels, SumSquaresOfEachTensorInAList) {
  std::vector<Tensor> gpu;
  std::vector<Tensor> cpu;
  for (int64_t numel : {int64_t{300000}, int64_t{0}, int64_t{5}, int64_t{4096}}) {
    const Operand x = random_operand({numel}, dt(), rng_);
    gpu.push_back(x.gpu);
    cpu.push_back(x.cpu);
  }
  const std::vector<double> ours = k::sum_squares_each(gpu);
  ASSERT_EQ(ours.size(), cpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double ref = k::sum_squares_each({cpu[i]})[0];
    EXPECT_LE(std::fabs(ours[i] - ref), 1e-12 * ref) << "tensor " << i;
  }
}

TEST_P(Kernels, AdamWWithAndWithoutParameterCopy) {
  const int64_t n = 3001;
  Operand master = random_operand({n}, DType::kF32, rng_), m = filled_operand({n}, DType::kF32, 0.0f),
          v = filled_operand({n}, DType::kF32, 0.0f);
  const bool with_copy = dt() != DType::kF32;  // the bf16 run writes a bf16 parameter copy, as on the GPU path
  Operand copy = filled_operand({n}, with_copy ? dt() : DType::kF32, 0.0f);
  const k::AdamWHyper hp{/*lr=*/1e-2f, /*beta1=*/0.9f, /*beta2=*/0.95f, /*eps=*/1e-8f, /*weight_decay=*/0.1f};
  for (int64_t step = 1; step <= 3; ++step) {
    const Operand grad = random_operand({n}, DType::kF32, rng_, 1e-3f);
    k::adamw_step(master.cpu, grad.cpu, m.cpu, v.cpu, with_copy ? &copy.cpu : nullptr, hp, step, 0.5f);
    k::adamw_step(master.gpu, grad.gpu, m.gpu, v.gpu, with_copy ? &copy.gpu : nullptr, hp, step, 0.5f);
  }
  expect_close(master.gpu, master.cpu, 1e-5, "adamw master after 3 steps");
  expect_close(m.gpu, m.cpu, 1e-5, "adamw m");
  expect_close(v.gpu, v.cpu, 1e-5, "adamw v");
  if (with_copy) expect_close(copy.gpu, copy.cpu, tol(), tag("adamw parameter copy"));
}

// The LM head and cross-entropy as training runs them (model/lm_head_loss.h) at the real vocabulary, where the
// softmax sums 151,936 terms per row: 165 rows in chunks of 64, so that the second chunk is fully masked (skipped,
// its dh rows zeroed) and the last one is partial (37 rows); masked rows are scattered through the first chunk too.
TEST_P(Kernels, CrossEntropyFullVocabularyInChunks) {
  constexpr int64_t kVocab = 151936, kChunk = 64, kRows = 2 * kChunk + 37, kHidden = 64;
  std::vector<int32_t> t(static_cast<size_t>(kRows));
  for (int64_t i = 0; i < kRows; ++i) {
    const bool masked = (i >= kChunk && i < 2 * kChunk) || i % 7 == 3;
    t[static_cast<size_t>(i)] = masked ? -100 : static_cast<int32_t>(rng_.below(kVocab));
  }
  const Tensor targets = Tensor::from_vector(t, {kRows}), targets_gpu = targets.to(Device::kCUDA);
  // Logits of standard deviation 0.25 * sqrt(64) = 2: a softmax far from uniform, as a trained model's.
  const Operand h = random_operand({kRows, kHidden}, dt(), rng_),
                w = random_operand({kVocab, kHidden}, dt(), rng_, 0.25f);
  // dh starts as NaN: the fully masked chunk's rows must be written (zeroed), not left alone.
  Operand dh = filled_operand({kRows, kHidden}, dt(), NAN), dw = filled_operand({kVocab, kHidden}, DType::kF32, 0.0f);
  Qwen3LocalDims dims;
  dims.vocab = kVocab;
  const std::unique_ptr<Communicator> tp = make_single_process_communicator("tp");
  LmHeadScratch cpu_scratch = LmHeadScratch::create(kChunk, kVocab, DType::kF32, Device::kCPU);
  LmHeadScratch gpu_scratch = LmHeadScratch::create(kChunk, kVocab, dt(), Device::kCUDA);
  const float grad_scale = 1.0f / 100;
  const LossSum ref = lm_head_loss(h.cpu, w.cpu, targets, t, dims, *tp, cpu_scratch, &dh.cpu, &dw.cpu, grad_scale);
  const LossSum ours = lm_head_loss(h.gpu, w.gpu, targets_gpu, t, dims, *tp, gpu_scratch, &dh.gpu, &dw.gpu, grad_scale);
  // Both sides form the logits from the same operands and accumulate in f32 or better; the per-row sums of 151,936
  // exponentials differ only in their order, about log2(151936) = 17 roundings, 1e-6 relative, far inside 1e-5.
  ASSERT_EQ(ours.count, ref.count);
  const double loss_err = std::fabs(ours.sum - ref.sum) / ref.sum;
  std::printf("  %-48s %.6f vs %.6f over %lld tokens, rel %.3g (tolerance 1e-05)\n",
              tag("full-vocabulary loss").c_str(), ours.mean(), ref.mean(), static_cast<long long>(ref.count),
              loss_err);
  EXPECT_LE(loss_err, 1e-5);
  // dh sums 151,936 products per element: the f32 GEMM's rounding grows with the sum's length (about sqrt(K) u
  // relative to the largest term, 2e-5 here), so f32 gets 1e-4; with bf16 the GPU also rounds the f32 gradient
  // of the logits to bf16 before the matmuls (as autocast does), 2^-9 relative per element, inside bf16's 1e-2.
  expect_close(dh.gpu, dh.cpu, dt() == DType::kF32 ? 1e-4 : tol(), tag("full-vocabulary dh (masked chunk zeroed)"));
  expect_close(dw.gpu, dw.cpu, tol(), tag("full-vocabulary dw"));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, Kernels, ::testing::Values(DType::kF32, DType::kBF16), dtype_param_name);

class KernelsF32Only : public GpuTest {
 protected:
  Rng rng_{99};
};

// The LM head's logits chunk is f32 whatever the compute dtype.
TEST_F(KernelsF32Only, CrossEntropyPasses) {
  for (const auto& [n, v] : std::vector<std::pair<int64_t, int64_t>>{{33, 517}, {8, 4096}}) {
    const int64_t start = 100;  // this rank holds vocabulary ids [100, 100 + v)
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (size_t i = 0; i < t.size(); ++i)
      t[i] = i % 5 == 0 ? -100 : static_cast<int32_t>(rng_.below(static_cast<uint64_t>(v + 2 * start)));
    const Tensor targets = Tensor::from_vector(t, {n}), targets_gpu = targets.to(Device::kCUDA);
    Operand logits = random_operand({n, v}, DType::kF32, rng_, 4.0f);
    Operand mx = filled_operand({n}, DType::kF32, 0.0f), se = filled_operand({n}, DType::kF32, 0.0f),
            tl = filled_operand({n}, DType::kF32, 0.0f);
    const std::string shape = " [" + std::to_string(n) + ", " + std::to_string(v) + "]";
    k::cross_entropy_row_max(mx.cpu, logits.cpu);
    k::cross_entropy_row_max(mx.gpu, logits.gpu);
    expect_close(mx.gpu, mx.cpu, 0.0, "cross_entropy_row_max" + shape);
    k::cross_entropy_sum_exp(se.cpu, tl.cpu, logits.cpu, mx.cpu, targets, start);
    k::cross_entropy_sum_exp(se.gpu, tl.gpu, logits.gpu, mx.gpu, targets_gpu, start);
    expect_close(se.gpu, se.cpu, 1e-5, "cross_entropy_sum_exp" + shape);
    expect_close(tl.gpu, tl.cpu, 0.0, "cross_entropy target logit" + shape);
    k::cross_entropy_backward(logits.cpu, mx.cpu, se.cpu, targets, start, 0.25f);
    k::cross_entropy_backward(logits.gpu, mx.gpu, se.gpu, targets_gpu, start, 0.25f);
    expect_close(logits.gpu, logits.cpu, 1e-5, "cross_entropy_backward" + shape);
  }
}

// Conversion rounds to nearest even on both sides: exact agreement, NaN preserved.
TEST_F(KernelsF32Only, ConvertEveryPairExactly) {
  const DType types[] = {DType::kF32, DType::kBF16, DType::kF16};
  for (DType from : types)
    for (DType to : types) {
      for (int64_t numel : {4096, 1001}) {
        Tensor src = Tensor::empty({numel}, DType::kF32);
        for (int64_t i = 0; i < numel; ++i) src.data_as<float>()[i] = 100.0f * rng_.normal();
        src.data_as<float>()[7] = NAN;
        const Tensor src_typed = src.to_dtype(from);
        Tensor ref = Tensor::empty({numel}, to);
        convert_floats(ref.data(), to, src_typed.data(), from, numel);
        Tensor out = Tensor::empty({numel}, to, Device::kCUDA);
        k::convert(out, src_typed.to(Device::kCUDA));
        const Tensor host = out.to(Device::kCPU);
        const std::vector<float> a = host.to_f32_vector(), b = ref.to_f32_vector();
        size_t mismatches = 0;
        for (size_t i = 0; i < a.size(); ++i)
          mismatches += !(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])));
        EXPECT_EQ(mismatches, 0u) << "convert " << dtype_name(from) << " -> " << dtype_name(to) << " (" << numel << ")";
      }
    }
}

}  // namespace
}  // namespace stepwise::testing
