// CPU causal grouped-query attention over packed sequences (contiguous keys) or a paged KV pool, forward and
// backward (contiguous only), accumulated in f64. Work is split
// into blocks of queries; each block's scores against its visible keys are f64 dgemm products of f64 copies of the
// f32 operands (single-threaded calls: OpenBLAS's OpenMP build runs serially inside our parallel loop), the softmax
// and its gradient are f64, and only the results (out, lse, dq, dk, dv) are rounded to f32. No T x T matrix is
// ever held whole. A sequence with one query row (decoding) is one work item for all its heads instead (attend_row).
// The backward pass recomputes probabilities from the saved log-sum-exp, as the flash-attention
// kernels on the GPU do.
// Why f64, as in matmul.cpp: the CPU path is the reference, and its results must not depend on which kernels
// OpenBLAS picks for the CPU it runs on. f32 sgemm kernels (Haswell, SkylakeX, Prescott, ...) add in different
// orders, and their last-bit differences reach gradient elements near AdamW's eps, where the first step turns them
// into O(lr) weight differences (issue 11). The f64 kernels differ by ~1e-16 relative, far below the final f32
// rounding (6e-8), so every kernel family gives the same f32 results but for values within 1e-16 of a rounding
// boundary (a chance of ~1e-9 per element). With CpuAccumulation::kFloat32 the same code accumulates in f32
// (sgemm, f32 softmax) for runs that need speed rather than the reference.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/status.h"
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

// The kernels below accumulate in T: double (the reference) or float (CpuAccumulation::kFloat32).

// dst = the first `rows` rows of one head (hd values each, row stride ld) as contiguous T [rows, hd].
template <class T>
void head_rows_in(std::vector<T>& dst, const float* src, int64_t ld, int64_t rows, int64_t hd) {
  dst.resize(static_cast<size_t>(rows * hd));
  for (int64_t r = 0; r < rows; ++r)
#pragma omp simd
    for (int64_t e = 0; e < hd; ++e) dst[r * hd + e] = src[r * ld + e];
}
// The inverse: contiguous T [rows, hd] rounded into one head's rows of an f32 tensor with row stride ld.
template <class T>
void head_rows_out(float* dst, int64_t ld, const T* src, int64_t rows, int64_t hd) {
  for (int64_t r = 0; r < rows; ++r)
#pragma omp simd
    for (int64_t e = 0; e < hd; ++e) dst[r * ld + e] = static_cast<float>(src[r * hd + e]);
}

// c[m, n] = alpha * op(a) op(b) + beta * c on contiguous row-major matrices; a is [m, k] (or [k, m] with
// trans_a), b is [k, n] (or [n, k] with trans_b).
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          const double* b, double beta, double* c) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(trans_a ? m : k), b, static_cast<int>(trans_b ? k : n), beta, c, static_cast<int>(n));
}
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, const float* b,
          float beta, float* c) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(trans_a ? m : k), b, static_cast<int>(trans_b ? k : n), beta, c, static_cast<int>(n));
}

// Number of keys query row i (0-based in its sequence) may see.
int64_t visible_keys(int64_t i, int64_t lq, int64_t lk) {
  return std::max<int64_t>(0, std::min(lk, i + (lk - lq) + 1));
}

// Where the keys and values of sequence s are: contiguous rows (training, a single sequence's KvCache) or the
// blocks of a paged pool (the serving engine). row(s, j) is the pool row of the sequence's key j.
struct ContiguousKeys {
  const float* k;
  const float* v;
  const int32_t* cu_k;
  int64_t hkv, hd;
  int64_t length(int64_t s) const { return cu_k[s + 1] - cu_k[s]; }
  int64_t row(int64_t s, int64_t j) const { return cu_k[s] + j; }
  int64_t run(int64_t, int64_t j, int64_t end) const { return end - j; }  // keys from j on in consecutive rows
};

struct PagedKeys {
  const float* k;
  const float* v;
  const int32_t* seq_lens;
  const int32_t* block_tables;
  int64_t max_blocks, block_size, hkv, hd;
  int64_t length(int64_t s) const { return seq_lens[s]; }
  int64_t row(int64_t s, int64_t j) const {
    return block_tables[s * max_blocks + j / block_size] * block_size + j % block_size;
  }
  int64_t run(int64_t, int64_t j, int64_t end) const { return std::min(end - j, block_size - j % block_size); }
};

// KV head kh's first `rows` keys and values of sequence s as contiguous T [rows, hd].
template <class T, class Keys>
void load_keys(const Keys& keys, std::vector<T>& kd, std::vector<T>& vd, int64_t s, int64_t kh, int64_t rows) {
  const int64_t hd = keys.hd;
  kd.resize(static_cast<size_t>(rows * hd));
  vd.resize(static_cast<size_t>(rows * hd));
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t at = (keys.row(s, r) * keys.hkv + kh) * hd;
#pragma omp simd
    for (int64_t e = 0; e < hd; ++e) {
      kd[r * hd + e] = keys.k[at + e];
      vd[r * hd + e] = keys.v[at + e];
    }
  }
}

// One query row of a sequence, every query head, against its first `vis` keys by direct loops: the decoding case
// (one new token per sequence). There a BLAS call per (sequence, head) and a copy of its keys cost more than the
// few thousand multiply-adds themselves, and a batch's KV cache no longer fits the CPU's caches: reading each key
// row once, whole and in pool order, for all heads, is what keeps the engine's decoding steps fast (measured: bench
// serve, docs/serving.md). The same sums in T as the blocked path below. Heads [h0, h0 + hq) of the query row:
// q, out [hq, hd] and lse [hq] point at head h0's; group: query heads per KV head.
template <class T, class Keys>
void attend_row(float* out, float* lse, const float* q, int64_t h0, int64_t hq, int64_t group, const Keys& keys,
                int64_t s, int64_t vis, float scale, std::vector<T>& scores, std::vector<T>& acc) {
  const int64_t hd = keys.hd, ld = keys.hkv * hd;
  scores.resize(static_cast<size_t>(hq * vis));
  // Keys come in runs of consecutive pool rows (a block of the paged cache), so the table is read once per run.
  for (int64_t j0 = 0, n; j0 < vis; j0 += n) {
    n = keys.run(s, j0, vis);
    const float* kr = keys.k + keys.row(s, j0) * ld;
    for (int64_t j = 0; j < n; ++j, kr += ld)
      for (int64_t h = 0; h < hq; ++h) {
        const float* qh = q + h * hd;
        const float* kh = kr + ((h0 + h) / group) * hd;
        T dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t e = 0; e < hd; ++e) dot += T(qh[e]) * T(kh[e]);
        scores[h * vis + j0 + j] = T(scale) * dot;
      }
  }
  std::vector<T> inv(static_cast<size_t>(hq));
  for (int64_t h = 0; h < hq; ++h) {
    T* sc = scores.data() + h * vis;
    const T mx = *std::max_element(sc, sc + vis);
    double sum = 0;
    for (int64_t j = 0; j < vis; ++j) sum += sc[j] = std::exp(sc[j] - mx);
    inv[h] = T(1.0 / sum);
    if (lse) lse[h] = static_cast<float>(mx + std::log(sum));
  }
  acc.assign(static_cast<size_t>(hq * hd), T(0));
  for (int64_t j0 = 0, n; j0 < vis; j0 += n) {
    n = keys.run(s, j0, vis);
    const float* vr = keys.v + keys.row(s, j0) * ld;
    for (int64_t j = 0; j < n; ++j, vr += ld)
      for (int64_t h = 0; h < hq; ++h) {
        const T p = scores[h * vis + j0 + j] * inv[h];
        const float* vh = vr + ((h0 + h) / group) * hd;
        T* a = acc.data() + h * hd;
#pragma omp simd
        for (int64_t e = 0; e < hd; ++e) a[e] += p * T(vh[e]);
      }
  }
  for (int64_t i = 0; i < hq * hd; ++i) out[i] = static_cast<float>(acc[i]);
}

// lse may be null (inference keeps no log-sum-exp).
template <class T, class Keys>
void forward(float* op, float* lp, const float* qp, const Keys& keys, const int32_t* cu_q, int64_t n_seqs,
             int64_t hq, int64_t hkv, int64_t hd, float scale) {
  const int64_t group = hq / hkv, ld_q = hq * hd;
  // Work items: (sequence, head, block of queries); later blocks cost more under the causal mask. A sequence with
  // one query row (decoding) is one item for `heads` heads from h: all of them when there are sequences enough to
  // keep the threads busy, else a KV head's group each.
  struct Item { int64_t s, h, i0, heads; };
  std::vector<Item> items;
  int64_t decoding = 0;
  for (int64_t s = 0; s < n_seqs; ++s) decoding += cu_q[s + 1] - cu_q[s] == 1;
  const int64_t row_heads = decoding >= 2 * omp_get_max_threads() ? hq : group;
  for (int64_t s = 0; s < n_seqs; ++s) {
    if (cu_q[s + 1] - cu_q[s] == 1) {
      for (int64_t h = 0; h < hq; h += row_heads) items.push_back({s, h, 0, row_heads});
      continue;
    }
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t i0 = 0; i0 < cu_q[s + 1] - cu_q[s]; i0 += kQueryBlock) items.push_back({s, h, i0, 1});
  }

#pragma omp parallel
  {
    std::vector<T> qd, kd, vd, p, o;
#pragma omp for schedule(dynamic, 1)
    for (size_t it = 0; it < items.size(); ++it) {
      const Item w = items[it];
      const int64_t q0 = cu_q[w.s], lq = cu_q[w.s + 1] - q0, lk = keys.length(w.s);
      if (lq == 1) {
        const int64_t vis = visible_keys(0, 1, lk), at = q0 * ld_q + w.h * hd;
        float* lb = lp ? lp + q0 * hq + w.h : nullptr;
        if (vis > 0) {
          attend_row(op + at, lb, qp + at, w.h, w.heads, group, keys, w.s, vis, scale, p, o);
        } else {
          std::fill(op + at, op + at + w.heads * hd, 0.0f);
          if (lb) std::fill(lb, lb + w.heads, -INFINITY);
        }
        continue;
      }
      const int64_t rows = std::min(kQueryBlock, lq - w.i0), kmax = visible_keys(w.i0 + rows - 1, lq, lk);
      float* ob = op + ((q0 + w.i0) * hq + w.h) * hd;
      float* lb = lp ? lp + (q0 + w.i0) * hq + w.h : nullptr;
      if (kmax == 0) {
        for (int64_t r = 0; r < rows; ++r) {
          std::fill(ob + r * ld_q, ob + r * ld_q + hd, 0.0f);
          if (lb) lb[r * hq] = -INFINITY;
        }
        continue;
      }
      head_rows_in(qd, qp + ((q0 + w.i0) * hq + w.h) * hd, ld_q, rows, hd);
      load_keys(keys, kd, vd, w.s, w.h / group, kmax);
      p.resize(static_cast<size_t>(rows * kmax));
      gemm(false, true, rows, kmax, hd, T(scale), qd.data(), kd.data(), T(0), p.data());
      for (int64_t r = 0; r < rows; ++r) {
        T* pr = p.data() + r * kmax;
        const int64_t vis = visible_keys(w.i0 + r, lq, lk);
        T mx = -INFINITY;
        for (int64_t j = 0; j < vis; ++j) mx = std::max(mx, pr[j]);
        double sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < vis; ++j) {
          pr[j] = std::exp(pr[j] - mx);
          sum += pr[j];
        }
        const T inv = vis > 0 ? T(1.0 / sum) : T(0);
#pragma omp simd
        for (int64_t j = 0; j < vis; ++j) pr[j] *= inv;
        std::fill(pr + vis, pr + kmax, T(0));
        if (lb) lb[r * hq] = vis > 0 ? static_cast<float>(mx + std::log(sum)) : -INFINITY;
      }
      o.resize(static_cast<size_t>(rows * hd));
      gemm(false, false, rows, hd, kmax, T(1), p.data(), vd.data(), T(0), o.data());
      head_rows_out(ob, ld_q, o.data(), rows, hd);
    }
  }
}

// With P = softmax(S), S = scale * q k^T and D_i = dO_i . O_i:
//   dV = P^T dO;  dS = P * (dO V^T - D);  dQ = scale * dS K;  dK = scale * dS^T Q.
// One work item per (sequence, KV head) owns that head's dK and dV rows, accumulated in T over the query blocks
// and heads of its group, so no two threads write the same row.
template <class T>
void backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout, const Tensor& q, const Tensor& k,
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
  dk.zero();  // rows outside every sequence
  dv.zero();

  const int64_t items = g.n_seqs * g.hkv;
#pragma omp parallel
  {
    std::vector<T> kd, vd, dkd, dvd, qd, dod, p, dp, dqd;
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t s = it / g.hkv, kh = it % g.hkv, hd = g.hd;
      const int64_t q0 = g.cu_q[s], lq = g.cu_q[s + 1] - q0, k0 = g.cu_k[s], lk = g.cu_k[s + 1] - k0;
      head_rows_in(kd, kp + (k0 * g.hkv + kh) * hd, g.ld_kv(), lk, hd);
      head_rows_in(vd, vp + (k0 * g.hkv + kh) * hd, g.ld_kv(), lk, hd);
      dkd.assign(static_cast<size_t>(lk * hd), T(0));
      dvd.assign(static_cast<size_t>(lk * hd), T(0));
      for (int64_t h = kh * g.group; h < (kh + 1) * g.group; ++h) {
        for (int64_t i0 = 0; i0 < lq; i0 += kQueryBlock) {
          const int64_t rows = std::min(kQueryBlock, lq - i0), kmax = visible_keys(i0 + rows - 1, lq, lk);
          const int64_t row0 = (q0 + i0) * g.hq + h;
          float* dqb = dqp + row0 * hd;
          if (kmax == 0) {
            for (int64_t r = 0; r < rows; ++r) std::fill(dqb + r * g.ld_q(), dqb + r * g.ld_q() + hd, 0.0f);
            continue;
          }
          head_rows_in(qd, qp + row0 * hd, g.ld_q(), rows, hd);
          head_rows_in(dod, dop + row0 * hd, g.ld_q(), rows, hd);
          p.resize(static_cast<size_t>(rows * kmax));
          dp.resize(static_cast<size_t>(rows * kmax));
          gemm(false, true, rows, kmax, hd, T(scale), qd.data(), kd.data(), T(0), p.data());
          gemm(false, true, rows, kmax, hd, T(1), dod.data(), vd.data(), T(0), dp.data());
          for (int64_t r = 0; r < rows; ++r) {
            T* pr = p.data() + r * kmax;
            T* dpr = dp.data() + r * kmax;
            const int64_t vis = visible_keys(i0 + r, lq, lk);
            const T l = lp[(q0 + i0 + r) * g.hq + h];
            const float* o_r = op + row0 * hd + r * g.ld_q();
            const T* do_r = dod.data() + r * hd;
            T d = 0;
#pragma omp simd reduction(+ : d)
            for (int64_t e = 0; e < hd; ++e) d += do_r[e] * o_r[e];
#pragma omp simd
            for (int64_t j = 0; j < vis; ++j) {
              pr[j] = std::exp(pr[j] - l);
              dpr[j] = pr[j] * (dpr[j] - d) * scale;  // dS, scaled for dQ and dK
            }
            std::fill(pr + vis, pr + kmax, T(0));
            std::fill(dpr + vis, dpr + kmax, T(0));
          }
          gemm(true, false, kmax, hd, rows, T(1), p.data(), dod.data(), T(1), dvd.data());
          dqd.resize(static_cast<size_t>(rows * hd));
          gemm(false, false, rows, hd, kmax, T(1), dp.data(), kd.data(), T(0), dqd.data());
          head_rows_out(dqb, g.ld_q(), dqd.data(), rows, hd);
          gemm(true, false, kmax, hd, rows, T(1), dp.data(), qd.data(), T(1), dkd.data());
        }
      }
      head_rows_out(dkp + (k0 * g.hkv + kh) * hd, g.ld_kv(), dkd.data(), lk, hd);
      head_rows_out(dvp + (k0 * g.hkv + kh) * hd, g.ld_kv(), dvd.data(), lk, hd);
    }
  }
}

}  // namespace

// The accumulation is read here, on the calling thread (the OpenMP workers have their own).
void attention_forward(Tensor& out, Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const SeqLayout& seqs, float scale) {
  const ContiguousKeys keys{k.data_as<float>(), v.data_as<float>(), seqs.cu_k.data_as<int32_t>(), k.size(1),
                            k.size(2)};
  const auto run = cpu_accumulation() == CpuAccumulation::kFloat32 ? forward<float, ContiguousKeys>
                                                                   : forward<double, ContiguousKeys>;
  run(out.data_as<float>(), lse.data_as<float>(), q.data_as<float>(), keys, seqs.cu_q.data_as<int32_t>(),
      seqs.cu_q.numel() - 1, q.size(1), k.size(1), q.size(2), scale);
}

void paged_attention_forward(Tensor& out, const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                             const PagedLayout& layout, float scale) {
  const PagedKeys keys{k_pool.data_as<float>(),
                       v_pool.data_as<float>(),
                       layout.seq_lens.data_as<int32_t>(),
                       layout.block_tables.data_as<int32_t>(),
                       layout.block_tables.size(1),
                       layout.block_size,
                       k_pool.size(1),
                       k_pool.size(2)};
  const auto run =
      cpu_accumulation() == CpuAccumulation::kFloat32 ? forward<float, PagedKeys> : forward<double, PagedKeys>;
  run(out.data_as<float>(), nullptr, q.data_as<float>(), keys, layout.cu_q.data_as<int32_t>(),
      layout.seq_lens.numel(), q.size(1), k_pool.size(1), q.size(2), scale);
}

void paged_kv_write(Tensor& k_pool, Tensor& v_pool, const Tensor& k, const Tensor& v, const Tensor& slots) {
  const int64_t row = k.size(1) * k.size(2);
  const int32_t* sp = slots.data_as<int32_t>();
  for (int64_t i = 0; i < k.size(0); ++i) {
    SW_CHECK(sp[i] >= 0 && sp[i] < k_pool.size(0), "paged_kv_write: slot ", sp[i], " outside the pool of ",
             k_pool.size(0));
    std::copy_n(k.data_as<float>() + i * row, row, k_pool.data_as<float>() + sp[i] * row);
    std::copy_n(v.data_as<float>() + i * row, row, v_pool.data_as<float>() + sp[i] * row);
  }
}

void attention_backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout, const Tensor& q, const Tensor& k,
                        const Tensor& v, const Tensor& out, const Tensor& lse, const SeqLayout& seqs, float scale) {
  if (cpu_accumulation() == CpuAccumulation::kFloat32)
    return backward<float>(dq, dk, dv, dout, q, k, v, out, lse, seqs, scale);
  backward<double>(dq, dk, dv, dout, q, k, v, out, lse, seqs, scale);
}

}  // namespace stepwise::kernels::cpu
