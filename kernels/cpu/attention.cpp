// CPU causal grouped-query attention over packed sequences, forward and backward. Work is split into blocks of
// queries; each block's scores against its visible keys are formed with single-threaded sgemm calls (OpenBLAS's
// OpenMP build runs serially inside our parallel loop), so no T x T matrix is ever held whole. The backward pass
// recomputes probabilities from the saved log-sum-exp, as the flash-attention kernels on the GPU do.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_ops.h"

namespace stepwise::kernels::cpu {

namespace {

constexpr int64_t kQueryBlock = 64;

struct Geometry {
  int64_t hq, hkv, hd, group;
  const int32_t* cu_q;
  const int32_t* cu_k;
  int64_t n_seqs;
  int64_t ld_q() const { return hq * hd; }   // row stride of q, out, dq, dout
  int64_t ld_kv() const { return hkv * hd; }  // row stride of k, v, dk, dv
};

Geometry geometry(const Tensor& q, const Tensor& k, const SeqLayout& seqs) {
  return {q.size(1), k.size(1), q.size(2), q.size(1) / k.size(1), seqs.cu_q.data_as<int32_t>(),
          seqs.cu_k.data_as<int32_t>(), seqs.cu_q.numel() - 1};
}

// c[m, n] = alpha * a[m, k] @ b^T (b: [n, k]) + beta * c, with row strides.
void gemm_nt(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
             float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
              alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}
// c[m, n] = alpha * a[m, k] @ b[k, n] + beta * c.
void gemm_nn(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
             float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
              alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}
// c[m, n] = alpha * a^T @ b (a: [k, m], b: [k, n]) + beta * c.
void gemm_tn(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
             float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
              alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

// Number of keys query row i (0-based in its sequence) may see.
int64_t visible_keys(int64_t i, int64_t lq, int64_t lk) { return std::max<int64_t>(0, std::min(lk, i + (lk - lq) + 1)); }

}  // namespace

void attention_forward(Tensor& out, Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const SeqLayout& seqs, float scale) {
  const Geometry g = geometry(q, k, seqs);
  const float* qp = q.data_as<float>();
  const float* kp = k.data_as<float>();
  const float* vp = v.data_as<float>();
  float* op = out.data_as<float>();
  float* lp = lse.data_as<float>();

  // Work items: (sequence, head, block of queries); later blocks cost more under the causal mask.
  struct Item { int64_t s, h, i0; };
  std::vector<Item> items;
  for (int64_t s = 0; s < g.n_seqs; ++s)
    for (int64_t h = 0; h < g.hq; ++h)
      for (int64_t i0 = 0; i0 < g.cu_q[s + 1] - g.cu_q[s]; i0 += kQueryBlock) items.push_back({s, h, i0});

#pragma omp parallel
  {
    std::vector<float> p;
#pragma omp for schedule(dynamic, 1)
    for (size_t it = 0; it < items.size(); ++it) {
      const Item w = items[it];
      const int64_t q0 = g.cu_q[w.s], lq = g.cu_q[w.s + 1] - q0, k0 = g.cu_k[w.s], lk = g.cu_k[w.s + 1] - k0;
      const int64_t rows = std::min(kQueryBlock, lq - w.i0), kmax = visible_keys(w.i0 + rows - 1, lq, lk);
      const int64_t kh = w.h / g.group;
      const float* qb = qp + ((q0 + w.i0) * g.hq + w.h) * g.hd;
      const float* kb = kp + (k0 * g.hkv + kh) * g.hd;
      const float* vb = vp + (k0 * g.hkv + kh) * g.hd;
      float* ob = op + ((q0 + w.i0) * g.hq + w.h) * g.hd;
      p.resize(static_cast<size_t>(rows * std::max<int64_t>(kmax, 1)));
      if (kmax > 0) gemm_nt(rows, kmax, g.hd, scale, qb, g.ld_q(), kb, g.ld_kv(), 0.0f, p.data(), kmax);
      for (int64_t r = 0; r < rows; ++r) {
        float* pr = p.data() + r * kmax;
        const int64_t vis = visible_keys(w.i0 + r, lq, lk);
        float mx = -INFINITY;
        for (int64_t j = 0; j < vis; ++j) mx = std::max(mx, pr[j]);
        double sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < vis; ++j) {
          pr[j] = std::exp(pr[j] - mx);
          sum += pr[j];
        }
        const float inv = vis > 0 ? static_cast<float>(1.0 / sum) : 0.0f;
        for (int64_t j = 0; j < vis; ++j) pr[j] *= inv;
        std::fill(pr + vis, pr + kmax, 0.0f);
        lp[(q0 + w.i0 + r) * g.hq + w.h] = vis > 0 ? mx + static_cast<float>(std::log(sum)) : -INFINITY;
      }
      if (kmax > 0)
        gemm_nn(rows, g.hd, kmax, 1.0f, p.data(), kmax, vb, g.ld_kv(), 0.0f, ob, g.ld_q());
      else
        for (int64_t r = 0; r < rows; ++r) std::fill(ob + r * g.ld_q(), ob + r * g.ld_q() + g.hd, 0.0f);
    }
  }
}

// With P = softmax(S), S = scale * q k^T and D_i = dO_i . O_i:
//   dV = P^T dO;  dS = P * (dO V^T - D);  dQ = scale * dS K;  dK = scale * dS^T Q.
// One work item per (sequence, KV head) owns that head's dK and dV rows, so no two threads write the same row.
void attention_backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout, const Tensor& q, const Tensor& k,
                        const Tensor& v, const Tensor& out, const Tensor& lse, const SeqLayout& seqs, float scale) {
  const Geometry g = geometry(q, k, seqs);
  const float* qp = q.data_as<float>();
  const float* kp = k.data_as<float>();
  const float* vp = v.data_as<float>();
  const float* op = out.data_as<float>();
  const float* dop = dout.data_as<float>();
  const float* lp = lse.data_as<float>();
  float* dqp = dq.data_as<float>();
  float* dkp = dk.data_as<float>();
  float* dvp = dv.data_as<float>();
  dk.zero();
  dv.zero();

  const int64_t items = g.n_seqs * g.hkv;
#pragma omp parallel
  {
    std::vector<float> p, dp;
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t s = it / g.hkv, kh = it % g.hkv;
      const int64_t q0 = g.cu_q[s], lq = g.cu_q[s + 1] - q0, k0 = g.cu_k[s], lk = g.cu_k[s + 1] - k0;
      const float* kb = kp + (k0 * g.hkv + kh) * g.hd;
      const float* vb = vp + (k0 * g.hkv + kh) * g.hd;
      float* dkb = dkp + (k0 * g.hkv + kh) * g.hd;
      float* dvb = dvp + (k0 * g.hkv + kh) * g.hd;
      for (int64_t h = kh * g.group; h < (kh + 1) * g.group; ++h) {
        for (int64_t i0 = 0; i0 < lq; i0 += kQueryBlock) {
          const int64_t rows = std::min(kQueryBlock, lq - i0), kmax = visible_keys(i0 + rows - 1, lq, lk);
          const int64_t row0 = (q0 + i0) * g.hq + h;
          const float* qb = qp + row0 * g.hd;
          const float* ob = op + row0 * g.hd;
          const float* dob = dop + row0 * g.hd;
          float* dqb = dqp + row0 * g.hd;
          if (kmax == 0) {
            for (int64_t r = 0; r < rows; ++r) std::fill(dqb + r * g.ld_q(), dqb + r * g.ld_q() + g.hd, 0.0f);
            continue;
          }
          p.resize(static_cast<size_t>(rows * kmax));
          dp.resize(static_cast<size_t>(rows * kmax));
          gemm_nt(rows, kmax, g.hd, scale, qb, g.ld_q(), kb, g.ld_kv(), 0.0f, p.data(), kmax);
          gemm_nt(rows, kmax, g.hd, 1.0f, dob, g.ld_q(), vb, g.ld_kv(), 0.0f, dp.data(), kmax);
          for (int64_t r = 0; r < rows; ++r) {
            float* pr = p.data() + r * kmax;
            float* dpr = dp.data() + r * kmax;
            const int64_t vis = visible_keys(i0 + r, lq, lk);
            const float l = lp[(q0 + i0 + r) * g.hq + h];
            const float* o_r = ob + r * g.ld_q();
            const float* do_r = dob + r * g.ld_q();
            float d = 0;
#pragma omp simd reduction(+ : d)
            for (int64_t e = 0; e < g.hd; ++e) d += do_r[e] * o_r[e];
#pragma omp simd
            for (int64_t j = 0; j < vis; ++j) {
              pr[j] = std::exp(pr[j] - l);
              dpr[j] = pr[j] * (dpr[j] - d) * scale;  // dS, scaled for dQ and dK
            }
            std::fill(pr + vis, pr + kmax, 0.0f);
            std::fill(dpr + vis, dpr + kmax, 0.0f);
          }
          gemm_tn(kmax, g.hd, rows, 1.0f, p.data(), kmax, dob, g.ld_q(), 1.0f, dvb, g.ld_kv());
          gemm_nn(rows, g.hd, kmax, 1.0f, dp.data(), kmax, kb, g.ld_kv(), 0.0f, dqb, g.ld_q());
          gemm_tn(kmax, g.hd, rows, 1.0f, dp.data(), kmax, qb, g.ld_q(), 1.0f, dkb, g.ld_kv());
        }
      }
    }
  }
}

}  // namespace stepwise::kernels::cpu
