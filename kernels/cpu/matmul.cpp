// CPU matmul: f32 operands, products accumulated in f64 (OpenBLAS dgemm on f64 copies of tiles; for a few rows,
// as in decoding, f64 dot products straight from the f32 operands), or with CpuAccumulation::kFloat32 one sgemm.
// The CPU path is the reference the GPU is checked against, and f32 accumulation is not enough for it: AdamW's
// first steps normalise every gradient element by its own magnitude, so rounding noise in near-zero gradients
// becomes O(lr) differences in the weights. With f64 accumulation three AdamW steps on the fixtures stay within
// 2e-5 of Hugging Face's float64 run at any thread count (f32 sgemm: up to 1.3e-4, varying with threads).
// Tiling bounds the f64 copies (the LM head's operands are vocabulary-sized) and keeps the conversions a small
// fraction of the work (O(1/tile) per multiply-add).
#include <cblas.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_ops.h"

namespace stepwise::kernels::cpu {

namespace {

constexpr int64_t kTileM = 512, kTileN = 512, kTileK = 512;

// dst = the rows x cols block at (r0, c0) of a row-major f32 matrix with row stride ld, as f64, in the same layout.
// The conversions here and of the result stay on the calling thread: an OpenMP region of ours just before or after
// each dgemm slows OpenBLAS's own threads (measured 2-2.5x on 256 x 1024 x 6144), for work that is O(1/tile) of it.
void load_block(std::vector<double>& dst, const float* src, int64_t ld, int64_t r0, int64_t rows, int64_t c0,
                int64_t cols) {
  dst.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = src + (r0 + r) * ld + c0;
    double* out = dst.data() + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) out[c] = in[c];
  }
}

// C = alpha A B^T + beta C for A with few rows (decoding, m <= kFewRows) and B stored [n, k] (a Linear weight):
// each output is a dot product of two contiguous f32 rows accumulated in f64, read once. Converting B to f64 for
// dgemm would triple the traffic of a product that is bound by reading B (1 x 1024 x 151936: 182 -> 38 ms).
constexpr int64_t kFewRows = 4;

double dot_f64(const float* x, const float* y, int64_t k) {
  double acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < k; ++i) acc += static_cast<double>(x[i]) * y[i];
  return acc;
}

void matmul_few_rows(float* c, const float* a, const float* b, int64_t m, int64_t n, int64_t k, int64_t lda,
                     int64_t ldb, float alpha, float beta) {
#pragma omp parallel for schedule(static) if (n * k > kParallelMinWork)
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) {
      const double acc = dot_f64(a + i * lda, b + j * ldb, k);
      float& out = c[i * n + j];
      out = static_cast<float>(beta == 0.0f ? alpha * acc : alpha * acc + static_cast<double>(beta) * out);
    }
}

}  // namespace

void matmul(Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, float alpha, float beta) {
  const int64_t m = c.size(0), n = c.size(1), k = trans_a ? a.size(0) : a.size(1);
  const int64_t lda = a.size(1), ldb = b.size(1);
  const float* ap = a.data_as<float>();
  const float* bp = b.data_as<float>();
  float* cp = c.data_as<float>();
  // Few rows read B once whatever the accumulation: f64 dot products cost no more there.
  if (m <= kFewRows && !trans_a && trans_b) return matmul_few_rows(cp, ap, bp, m, n, k, lda, ldb, alpha, beta);
  if (cpu_accumulation() == CpuAccumulation::kFloat32) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, ap, static_cast<int>(lda), bp,
                static_cast<int>(ldb), beta, cp, static_cast<int>(n));
    return;
  }
  // Reused across calls: no allocation (and no page faults) per matmul.
  thread_local std::vector<double> at, bt, ct;
  for (int64_t m0 = 0; m0 < m; m0 += kTileM)
    for (int64_t n0 = 0; n0 < n; n0 += kTileN) {
      const int64_t tm = std::min(kTileM, m - m0), tn = std::min(kTileN, n - n0);
      ct.resize(static_cast<size_t>(tm * tn));
      if (k == 0) std::fill(ct.begin(), ct.end(), 0.0);
      for (int64_t k0 = 0; k0 < k; k0 += kTileK) {
        const int64_t tk = std::min(kTileK, k - k0);
        // Tiles keep their stored layout (contiguous reads); dgemm applies the transposes.
        if (trans_a)
          load_block(at, ap, lda, k0, tk, m0, tm);
        else
          load_block(at, ap, lda, m0, tm, k0, tk);
        if (trans_b)
          load_block(bt, bp, ldb, n0, tn, k0, tk);
        else
          load_block(bt, bp, ldb, k0, tk, n0, tn);
        cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    static_cast<int>(tm), static_cast<int>(tn), static_cast<int>(tk), 1.0, at.data(),
                    static_cast<int>(trans_a ? tm : tk), bt.data(), static_cast<int>(trans_b ? tk : tn),
                    k0 == 0 ? 0.0 : 1.0, ct.data(), static_cast<int>(tn));
      }
      const double* acc = ct.data();
      for (int64_t i = 0; i < tm; ++i) {
        float* out = cp + (m0 + i) * n + n0;
        const double* in = acc + i * tn;
        if (beta == 0.0f) {  // beta 0 ignores whatever C held, NaN included
#pragma omp simd
          for (int64_t j = 0; j < tn; ++j) out[j] = static_cast<float>(alpha * in[j]);
        } else {
#pragma omp simd
          for (int64_t j = 0; j < tn; ++j)
            out[j] = static_cast<float>(alpha * in[j] + static_cast<double>(beta) * out[j]);
        }
      }
    }
}

}  // namespace stepwise::kernels::cpu
