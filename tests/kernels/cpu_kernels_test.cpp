// CPU kernels against independent float64 implementations written here: forwards against naive loops,
// backwards against central finite differences of those loops, on random inputs with odd sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "../common/numerics.h"
#include "core/rng.h"
#include "core/status.h"
#include "kernels/ops.h"

namespace stepwise {
namespace {

namespace k = kernels;
using Vec = std::vector<double>;
using testing::Norm;
using testing::rel_error;

Vec random_vec(size_t n, uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  Vec v(n);
  for (double& x : v) x = scale * rng.normal();
  return v;
}

Tensor to_tensor(const Vec& v, Shape shape) {
  std::vector<float> f(v.begin(), v.end());
  return Tensor::from_vector(f, std::move(shape));
}

Vec to_vec(const Tensor& t) {
  const std::vector<float> f = t.to_f32_vector();
  return Vec(f.begin(), f.end());
}

// Central differences of f at x (f is a float64 function of all inputs).
Vec numeric_grad(const std::function<double(const Vec&)>& f, Vec x, double h = 1e-6) {
  Vec g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double xi = x[i];
    x[i] = xi + h;
    const double up = f(x);
    x[i] = xi - h;
    const double down = f(x);
    x[i] = xi;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Shapes for both CPU paths: dgemm on f64 tiles (more than one 512-tile along m, n and k, so that tile offsets and
// the accumulation across k-tiles run), and the few-rows (decoding) dot products, serial and threaded.
TEST(CpuKernels, MatmulAllTransposesAndBeta) {
  struct Dims {
    int64_t m, n, k;
  };
  for (const Dims& d : {Dims{7, 5, 9}, Dims{520, 9, 530}, Dims{6, 520, 530}, Dims{1, 5, 9}, Dims{3, 700, 300}})
    for (const float beta : {0.0f, 2.0f})
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) {
          const int64_t m = d.m, n = d.n, kk = d.k;
          const Vec a = random_vec(m * kk, 1), b = random_vec(kk * n, 2), c0 = random_vec(m * n, 3);
          Tensor at = to_tensor(a, ta ? Shape{kk, m} : Shape{m, kk});
          Tensor bt = to_tensor(b, tb ? Shape{n, kk} : Shape{kk, n});
          Tensor ct = to_tensor(c0, {m, n});
          k::matmul(ct, at, ta, bt, tb, 0.5f, beta);
          Vec ref(m * n);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              double s = 0;
              for (int64_t p = 0; p < kk; ++p)
                s += (ta ? a[p * m + i] : a[i * kk + p]) * (tb ? b[j * kk + p] : b[p * n + j]);
              ref[i * n + j] = 0.5 * s + beta * c0[i * n + j];
            }
          EXPECT_LE(rel_error(to_vec(ct), ref, Norm::kMax), 1e-6)
              << m << " x " << n << " x " << kk << " trans_a " << ta << " trans_b " << tb << " beta " << beta;
        }
}

Vec rmsnorm_ref(const Vec& x, const Vec& w, int64_t n, int64_t d, double eps) {
  Vec y(x.size());
  for (int64_t r = 0; r < n; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < d; ++i) ss += x[r * d + i] * x[r * d + i];
    const double s = 1.0 / std::sqrt(ss / d + eps);
    for (int64_t i = 0; i < d; ++i) y[r * d + i] = x[r * d + i] * s * w[i];
  }
  return y;
}

TEST(CpuKernels, RmsNormForwardBackward) {
  const int64_t n = 5, d = 13;
  const double eps = 1e-6;
  const Vec x = random_vec(n * d, 4), w = random_vec(d, 5), r = random_vec(n * d, 6), dx0 = random_vec(n * d, 7);
  Tensor xt = to_tensor(x, {n, d}), wt = to_tensor(w, {d}), y = Tensor::empty({n, d}, DType::kF32);
  Tensor rstd = Tensor::empty({n}, DType::kF32);
  k::rmsnorm_forward(y, rstd, xt, wt, static_cast<float>(eps));
  EXPECT_LE(rel_error(to_vec(y), rmsnorm_ref(x, w, n, d, eps), Norm::kMax), 1e-6);

  Tensor dx = to_tensor(dx0, {n, d}), dw = Tensor::zeros({d}, DType::kF32);
  k::rmsnorm_backward(dx, dw, to_tensor(r, {n, d}), xt, wt, rstd, /*accumulate_dx=*/true);
  Vec gx = numeric_grad([&](const Vec& xv) { return dot(rmsnorm_ref(xv, w, n, d, eps), r); }, x);
  for (size_t i = 0; i < gx.size(); ++i) gx[i] += dx0[i];
  const Vec gw = numeric_grad([&](const Vec& wv) { return dot(rmsnorm_ref(x, wv, n, d, eps), r); }, w);
  EXPECT_LE(rel_error(to_vec(dx), gx, Norm::kMax), 1e-5);
  EXPECT_LE(rel_error(to_vec(dw), gw, Norm::kMax), 1e-5);
}

TEST(CpuKernels, RopeMatchesRotationAndInverts) {
  const int64_t n = 6, h = 3, hd = 8, max_pos = 64;
  const double theta = 10000.0;
  const Vec x = random_vec(n * h * hd, 8);
  const std::vector<int32_t> pos = {0, 1, 2, 17, 5, 63};
  Tensor xt = to_tensor(x, {n, h, hd}), pt = Tensor::from_vector(pos, {n});
  const Tensor table = k::rope_table(max_pos, hd, theta, DType::kF32);
  k::rope_apply(xt, pt, table, false);
  Vec ref(x.size());
  for (int64_t t = 0; t < n; ++t)
    for (int64_t hh = 0; hh < h; ++hh)
      for (int64_t i = 0; i < hd / 2; ++i) {
        // Hugging Face: inv_freq and the angle in f32.
        const float inv_freq = 1.0f / std::pow(static_cast<float>(theta), static_cast<float>(2 * i) / hd);
        const double ang = static_cast<float>(pos[t]) * inv_freq;
        const double a = x[(t * h + hh) * hd + i], b = x[(t * h + hh) * hd + hd / 2 + i];
        ref[(t * h + hh) * hd + i] = a * std::cos(ang) - b * std::sin(ang);
        ref[(t * h + hh) * hd + hd / 2 + i] = b * std::cos(ang) + a * std::sin(ang);
      }
  EXPECT_LE(rel_error(to_vec(xt), ref, Norm::kMax), 1e-6);
  k::rope_apply(xt, pt, table, true);
  EXPECT_LE(rel_error(to_vec(xt), x, Norm::kMax), 1e-6);
  const std::vector<int32_t> bad = {0, 1, 2, 3, 4, 64};
  Tensor bt = Tensor::from_vector(bad, {n});
  EXPECT_THROW(k::rope_apply(xt, bt, table, false), StatusError);
}

// Naive attention in float64 over packed sequences (queries aligned to the end of their keys).
Vec attention_ref(const Vec& q, const Vec& kk, const Vec& v, const std::vector<int32_t>& cq,
                  const std::vector<int32_t>& ck, int64_t hq, int64_t hkv, int64_t hd, double scale) {
  Vec out(q.size(), 0.0);
  for (size_t s = 0; s + 1 < cq.size(); ++s) {
    const int64_t lq = cq[s + 1] - cq[s], lk = ck[s + 1] - ck[s];
    for (int64_t h = 0; h < hq; ++h) {
      const int64_t g = h / (hq / hkv);
      for (int64_t i = 0; i < lq; ++i) {
        const int64_t vis = std::min(lk, i + lk - lq + 1);
        Vec sc(vis);
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < vis; ++j) {
          double d = 0;
          for (int64_t e = 0; e < hd; ++e) d += q[((cq[s] + i) * hq + h) * hd + e] * kk[((ck[s] + j) * hkv + g) * hd + e];
          sc[j] = d * scale;
          mx = std::max(mx, sc[j]);
        }
        for (double& e : sc) sum += e = std::exp(e - mx);
        for (int64_t j = 0; j < vis; ++j)
          for (int64_t e = 0; e < hd; ++e)
            out[((cq[s] + i) * hq + h) * hd + e] += sc[j] / sum * v[((ck[s] + j) * hkv + g) * hd + e];
      }
    }
  }
  return out;
}

TEST(CpuKernels, AttentionPackedGqaForwardBackward) {
  const int64_t hq = 4, hkv = 2, hd = 6;
  const std::vector<int32_t> cu = {0, 5, 6, 13};  // three documents, one of length 1
  const int64_t n = cu.back();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const Vec q = random_vec(n * hq * hd, 9), kk = random_vec(n * hkv * hd, 10), v = random_vec(n * hkv * hd, 11);
  const Vec r = random_vec(n * hq * hd, 12);
  k::SeqLayout seqs{Tensor::from_vector(cu, {4}), Tensor::from_vector(cu, {4}), 7, 7};
  Tensor qt = to_tensor(q, {n, hq, hd}), kt = to_tensor(kk, {n, hkv, hd}), vt = to_tensor(v, {n, hkv, hd});
  Tensor out = Tensor::empty({n, hq, hd}, DType::kF32), lse = Tensor::empty({n, hq}, DType::kF32);
  k::attention_forward(out, lse, qt, kt, vt, seqs, scale);
  EXPECT_LE(rel_error(to_vec(out), attention_ref(q, kk, v, cu, cu, hq, hkv, hd, scale), Norm::kMax), 1e-5);

  Tensor dq = Tensor::empty(qt.shape(), DType::kF32), dk = Tensor::empty(kt.shape(), DType::kF32),
         dv = Tensor::empty(vt.shape(), DType::kF32);
  k::attention_backward(dq, dk, dv, to_tensor(r, {n, hq, hd}), qt, kt, vt, out, lse, seqs, scale);
  auto loss = [&](const Vec& qq, const Vec& kv, const Vec& vv) {
    return dot(attention_ref(qq, kv, vv, cu, cu, hq, hkv, hd, scale), r);
  };
  EXPECT_LE(rel_error(to_vec(dq), numeric_grad([&](const Vec& x) { return loss(x, kk, v); }, q), Norm::kMax), 1e-4);
  EXPECT_LE(rel_error(to_vec(dk), numeric_grad([&](const Vec& x) { return loss(q, x, v); }, kk), Norm::kMax), 1e-4);
  EXPECT_LE(rel_error(to_vec(dv), numeric_grad([&](const Vec& x) { return loss(q, kk, x); }, v), Norm::kMax), 1e-4);
}

// The forward accumulates in f64 and rounds once: every output is the float64 result on the same f32
// inputs rounded to f32, within half an ulp (u |x|), whatever kernels OpenBLAS picked. f32 accumulation (sgemm) is
// off by several ulps here. Sequences longer than the 64-query blocks, with a head size of a real model.
TEST(CpuKernels, AttentionForwardIsTheRoundedFloat64Result) {
  const int64_t hq = 4, hkv = 2, hd = 32;
  const std::vector<int32_t> cu = {0, 70, 71, 200};
  const int64_t n = cu.back();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const auto f32 = [](Vec v) {
    for (double& x : v) x = static_cast<float>(x);
    return v;
  };
  const Vec q = f32(random_vec(n * hq * hd, 30));
  const Vec kk = f32(random_vec(n * hkv * hd, 31)), v = f32(random_vec(n * hkv * hd, 32));
  k::SeqLayout seqs{Tensor::from_vector(cu, {4}), Tensor::from_vector(cu, {4}), 129, 129};
  Tensor out = Tensor::empty({n, hq, hd}, DType::kF32), lse = Tensor::empty({n, hq}, DType::kF32);
  k::attention_forward(out, lse, to_tensor(q, {n, hq, hd}), to_tensor(kk, {n, hkv, hd}), to_tensor(v, {n, hkv, hd}),
                       seqs, scale);
  const Vec ref = attention_ref(q, kk, v, cu, cu, hq, hkv, hd, scale), ours = to_vec(out);
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_LE(std::fabs(ours[i] - ref[i]), testing::kF32Unit * std::fabs(ref[i]) * (1 + 1e-6)) << "output " << i;
}

TEST(CpuKernels, AttentionQueriesAgainstLongerCachedKeys) {
  const int64_t hq = 2, hkv = 1, hd = 4;
  const std::vector<int32_t> cq = {0, 2, 3}, ck = {0, 7, 11};  // 2 new of 7, then 1 new of 4
  const float scale = 0.5f;
  const Vec q = random_vec(3 * hq * hd, 13), kk = random_vec(11 * hkv * hd, 14), v = random_vec(11 * hkv * hd, 15);
  k::SeqLayout seqs{Tensor::from_vector(cq, {3}), Tensor::from_vector(ck, {3}), 2, 7};
  Tensor qt = to_tensor(q, {3, hq, hd}), out = Tensor::empty({3, hq, hd}, DType::kF32);
  Tensor lse = Tensor::empty({3, hq}, DType::kF32);
  k::attention_forward(out, lse, qt, to_tensor(kk, {11, hkv, hd}), to_tensor(v, {11, hkv, hd}), seqs, scale);
  EXPECT_LE(rel_error(to_vec(out), attention_ref(q, kk, v, cq, ck, hq, hkv, hd, scale), Norm::kMax), 1e-5);
}

Vec swiglu_ref(const Vec& gu, int64_t n, int64_t f) {
  Vec out(n * f);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < f; ++i) {
      const double g = gu[r * 2 * f + i], u = gu[r * 2 * f + f + i];
      out[r * f + i] = g / (1 + std::exp(-g)) * u;
    }
  return out;
}

TEST(CpuKernels, SwigluForwardBackward) {
  const int64_t n = 4, f = 9;
  const Vec gu = random_vec(n * 2 * f, 16, 2.0), r = random_vec(n * f, 17);
  Tensor gut = to_tensor(gu, {n, 2 * f}), out = Tensor::empty({n, f}, DType::kF32);
  k::swiglu_forward(out, gut);
  EXPECT_LE(rel_error(to_vec(out), swiglu_ref(gu, n, f), Norm::kMax), 1e-6);
  Tensor dgu = Tensor::empty({n, 2 * f}, DType::kF32);
  k::swiglu_backward(dgu, to_tensor(r, {n, f}), gut);
  const Vec numeric = numeric_grad([&](const Vec& x) { return dot(swiglu_ref(x, n, f), r); }, gu);
  EXPECT_LE(rel_error(to_vec(dgu), numeric, Norm::kMax), 1e-5);
}

TEST(CpuKernels, VocabParallelEmbedding) {
  const int64_t v_local = 5, d = 3, start = 10;
  const Vec table = random_vec(v_local * d, 18);
  const std::vector<int32_t> ids = {10, 3, 14, 10, 15};
  Tensor tt = to_tensor(table, {v_local, d}), it = Tensor::from_vector(ids, {5});
  Tensor out = Tensor::empty({5, d}, DType::kF32);
  k::embedding_forward(out, tt, it, start);
  const Vec o = to_vec(out);
  for (int64_t e = 0; e < d; ++e) {
    EXPECT_FLOAT_EQ(o[0 * d + e], table[0 * d + e]);
    EXPECT_EQ(o[1 * d + e], 0.0);  // id 3 belongs to another rank
    EXPECT_FLOAT_EQ(o[2 * d + e], table[4 * d + e]);
    EXPECT_EQ(o[4 * d + e], 0.0);  // id 15 is past this rank's range
  }
  Tensor dt = Tensor::zeros({v_local, d}, DType::kF32);
  const Vec g = random_vec(5 * d, 19);
  k::embedding_backward(dt, to_tensor(g, {5, d}), it, start);
  const Vec dtv = to_vec(dt);
  for (int64_t e = 0; e < d; ++e) {
    EXPECT_NEAR(dtv[0 * d + e], g[0 * d + e] + g[3 * d + e], 1e-6);  // id 10 twice
    EXPECT_NEAR(dtv[4 * d + e], g[2 * d + e], 1e-6);
    EXPECT_EQ(dtv[1 * d + e], 0.0);
  }
}

TEST(CpuKernels, CrossEntropyStatsAndGradient) {
  const int64_t n = 4, v = 11;
  const Vec logits = random_vec(n * v, 20, 3.0);
  const std::vector<int32_t> targets = {3, -100, 10, 0};
  auto loss_ref = [&](const Vec& x) {
    double total = 0;
    for (int64_t r = 0; r < n; ++r) {
      if (targets[r] < 0) continue;
      double mx = -1e300, s = 0;
      for (int64_t i = 0; i < v; ++i) mx = std::max(mx, x[r * v + i]);
      for (int64_t i = 0; i < v; ++i) s += std::exp(x[r * v + i] - mx);
      total += std::log(s) + mx - x[r * v + targets[r]];
    }
    return total;
  };
  Tensor lt = to_tensor(logits, {n, v}), tt = Tensor::from_vector(targets, {n});
  Tensor mx = Tensor::empty({n}, DType::kF32), se = Tensor::empty({n}, DType::kF32), tl = Tensor::empty({n}, DType::kF32);
  k::cross_entropy_row_max(mx, lt);
  k::cross_entropy_sum_exp(se, tl, lt, mx, tt, 0);
  const Vec m = to_vec(mx), s = to_vec(se), t = to_vec(tl);
  double ours = 0;
  for (int64_t r = 0; r < n; ++r)
    if (targets[r] >= 0) ours += std::log(s[r]) + m[r] - t[r];
  EXPECT_NEAR(ours, loss_ref(logits), 1e-5 * std::fabs(loss_ref(logits)));
  k::cross_entropy_backward(lt, mx, se, tt, 0, 0.25f);
  Vec ref = numeric_grad(loss_ref, logits);
  for (double& g : ref) g *= 0.25;
  EXPECT_LE(rel_error(to_vec(lt), ref, Norm::kMax), 1e-5);
}

// AdamW against PyTorch's formula in float64, three steps with a new gradient each, including gradients near eps
// (1e-8) and zero: there the update lr * m / (sqrt(v) + eps) depends on where eps sits, so a formula with eps under
// the square root, or added to v, moves them by a different fraction of lr. Inputs are f32 values, so the reference
// computes on exactly what the kernel sees. Per element and step the kernel rounds the weight twice (decay, update:
// 2 u |p|) and the update to within 20 u of it (moments 3 u each, f32 hyperparameters 1 u, 1 - beta 4 u, the
// square root, eps, the step size and the division a few u more; |update| <= lr: |m| <= sqrt(v) after bias
// correction for three steps, to 0.1%), plus what the moments carry from earlier steps: 32 u lr allows for it.
TEST(CpuKernels, AdamWMatchesPyTorchFormula) {
  const int64_t n = 24;
  const double lr = 0.01f, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, wd = 0.1f, scale = 0.5f;  // the f32 values
  const auto f32 = [](Vec v) {
    for (double& x : v) x = static_cast<float>(x);
    return v;
  };
  Vec p = f32(random_vec(n, 21));
  const Vec p0 = p;
  Tensor pt = to_tensor(p, {n});
  Tensor m = Tensor::zeros({n}, DType::kF32), v = Tensor::zeros({n}, DType::kF32);
  const k::AdamWHyper hp{static_cast<float>(lr), static_cast<float>(beta1), static_cast<float>(beta2),
                         static_cast<float>(eps), static_cast<float>(wd)};
  Vec mr(n, 0.0), vr(n, 0.0);
  for (int step = 1; step <= 3; ++step) {
    Vec g = f32(random_vec(n, 22 + step));
    // Scaled by grad_scale these are 0, +-eps/4, +-eps, +-4 eps: the first 7 elements, with the sign changing by step.
    const double near_eps[] = {0, 0.25, -0.25, 1, -1, 4, -4};
    for (int i = 0; i < 7; ++i) g[i] = static_cast<float>((step % 2 ? 1 : -1) * near_eps[i] * eps / scale);
    k::adamw_step(pt, to_tensor(g, {n}), m, v, nullptr, hp, step, static_cast<float>(scale));
    for (int64_t i = 0; i < n; ++i) {
      const double gi = g[i] * scale;
      p[i] *= 1 - lr * wd;
      mr[i] = beta1 * mr[i] + (1 - beta1) * gi;
      vr[i] = beta2 * vr[i] + (1 - beta2) * gi * gi;
      const double mh = mr[i] / (1 - std::pow(beta1, step)), vh = vr[i] / (1 - std::pow(beta2, step));
      p[i] -= lr * mh / (std::sqrt(vh) + eps);
    }
    const Vec ours = to_vec(pt);
    for (int64_t i = 0; i < n; ++i) {
      const double bound = step * (2 * testing::kF32Unit * std::fabs(p[i]) + 32 * testing::kF32Unit * lr);
      EXPECT_LE(std::fabs(ours[i] - p[i]), bound)
          << "element " << i << " (gradient " << g[i] * scale << ") step " << step;
    }
  }
  // The elements near eps moved by a sizeable fraction of lr, not by the rounding the bound allows.
  for (int i = 1; i < 7; ++i) EXPECT_GT(std::fabs(p[i] - p0[i] * std::pow(1 - lr * wd, 3)), 0.1 * lr) << i;
}

TEST(CpuKernels, SumSquaresOfEachTensorInAList) {
  std::vector<Tensor> xs;
  Vec ref;
  for (size_t n : {size_t{1000}, size_t{0}, size_t{7}, size_t{40000}}) {
    const Vec v = random_vec(n, 50 + n, 3.0);
    xs.push_back(to_tensor(v, {static_cast<int64_t>(n)}));
    double acc = 0;
    for (double x : v) {
      const double f = static_cast<float>(x);  // the tensor holds f32
      acc += f * f;
    }
    ref.push_back(acc);
  }
  const Vec sums = k::sum_squares_each(xs);
  ASSERT_EQ(sums.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(sums[i], ref[i], 1e-12 * (ref[i] + 1)) << "tensor " << i;
  EXPECT_EQ(sums[1], 0.0);
  EXPECT_TRUE(k::sum_squares_each({}).empty());
}

TEST(CpuKernels, ShapeMismatchIsAnInternalError) {
  Tensor a = Tensor::zeros({2, 3}, DType::kF32), b = Tensor::zeros({4, 5}, DType::kF32), c = Tensor::zeros({2, 5}, DType::kF32);
  try {
    k::matmul(c, a, false, b, false);
    FAIL() << "expected an error";
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), StatusCode::kInternal);
    EXPECT_NE(std::string(e.what()).find("f32[2, 3]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stepwise
