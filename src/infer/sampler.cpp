// Greedy and stochastic token sampling.
#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/status.h"

namespace stepwise {

void SamplingParams::validate() const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    invalid_argument("temperature must be >= 0 (0 = greedy), got ", temperature);
  if (top_k < 0) invalid_argument("top_k must be >= 0 (0 = no limit), got ", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f)) invalid_argument("top_p must be in (0, 1], got ", top_p);
}

int32_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

int32_t sample_token(const std::vector<float>& logits, const SamplingParams& params, Rng& rng) {
  const int64_t n = static_cast<int64_t>(logits.size());
  if (params.temperature == 0.0f) return argmax(logits.data(), n);

  // Candidates by descending logit; top-k keeps a prefix.
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  const int64_t k = params.top_k > 0 ? std::min(params.top_k, n) : n;
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  order.resize(static_cast<size_t>(k));

  std::vector<double> p(order.size());
  const double mx = logits[order[0]];
  double sum = 0;
  for (size_t i = 0; i < order.size(); ++i) sum += p[i] = std::exp((logits[order[i]] - mx) / params.temperature);
  // Top-p keeps the smallest prefix whose probability reaches top_p (at least one token).
  size_t keep = order.size();
  if (params.top_p < 1.0f) {
    double cum = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      cum += p[i] / sum;
      if (cum >= params.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += p[i];
  double u = rng.uniform_double() * total;
  for (size_t i = 0; i < keep; ++i) {
    u -= p[i];
    if (u < 0) return order[i];
  }
  return order[keep - 1];
}

}  // namespace stepwise
