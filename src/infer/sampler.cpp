// Next-token choice: penalties, the sampling distribution (temperature, top-k, top-p, min-p) with one seeded draw,
// and the raw-logit log-probabilities reported with the token.
#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/status.h"
#include "kernels/ops.h"

namespace stepwise {
namespace {

// Descending logit, ties to the lower id: the order of top-k, top-p and the reported top log-probabilities.
struct MoreLikely {
  const float* logits;
  bool operator()(int32_t a, int32_t b) const { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); }
};

// The `k` most likely ids, most likely first. A bounded heap makes one pass over the vocabulary in which nearly every
// id costs a single comparison with the worst kept one; a large k sorts a selected part instead.
std::vector<int32_t> best_ids(const float* logits, int64_t n, int64_t k) {
  const MoreLikely more{logits};
  std::vector<int32_t> best;
  if (k * 8 >= n) {
    best.resize(static_cast<size_t>(n));
    std::iota(best.begin(), best.end(), 0);
    if (k < n) std::nth_element(best.begin(), best.begin() + k, best.end(), more);
    best.resize(static_cast<size_t>(k));
  } else {
    best.reserve(static_cast<size_t>(k));
    for (int32_t t = 0; t < n; ++t) {
      if (static_cast<int64_t>(best.size()) < k) {
        best.push_back(t);
        std::push_heap(best.begin(), best.end(), more);  // the least likely kept id on top
      } else if (more(t, best.front())) {
        std::pop_heap(best.begin(), best.end(), more);
        best.back() = t;
        std::push_heap(best.begin(), best.end(), more);
      }
    }
  }
  std::sort(best.begin(), best.end(), more);
  return best;
}

// Top-p: how many of the most likely tokens (`order`, a prefix of the whole order) it takes for their probability to
// reach top_p; 0 if these are not enough.
template <class Weight>
size_t nucleus_size(const std::vector<int32_t>& order, const Weight& weight, double sum, float top_p) {
  double cum = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    cum += weight(order[i]) / sum;
    if (cum >= top_p) return i + 1;
  }
  return 0;
}

// Neither top-k nor top-p: min-p is a threshold on p / p_max, and the draw walks the ids in order, with no sort. The
// weights are computed again in the walk rather than stored: a vocabulary-sized buffer per call costs more.
int32_t draw_unordered(const float* logits, int64_t n, const SamplingParams& params, double max_logit, Rng& rng) {
  const auto kept_weight = [&](int64_t t) {  // p / p_max, 0 where min-p cuts
    const double w = std::exp((logits[t] - max_logit) / params.temperature);
    return w >= params.min_p ? w : 0.0;
  };
  double total = 0;
  for (int64_t t = 0; t < n; ++t) total += kept_weight(t);
  double u = rng.uniform_double() * total;
  int64_t last_kept = 0;
  for (int64_t t = 0; t < n; ++t) {
    const double w = kept_weight(t);
    if (w == 0) continue;
    last_kept = t;
    u -= w;
    if (u < 0) return static_cast<int32_t>(t);
  }
  return static_cast<int32_t>(last_kept);  // rounding left u >= 0 past the last kept token
}

// The draw from `logits` (penalties already applied): temperature, top-k, top-p, min-p, one uniform number.
int32_t draw(const float* logits, int64_t n, const SamplingParams& params, Rng& rng) {
  if (params.greedy()) return argmax(logits, n);
  const double max_logit = logits[argmax(logits, n)];
  if (params.top_k == 0 && params.top_p >= 1.0f) return draw_unordered(logits, n, params, max_logit, rng);
  const auto weight = [&](int32_t t) { return std::exp((logits[t] - max_logit) / params.temperature); };  // p/p_max

  // Candidates by descending logit, with the sum of their weights. Top-p without top-k looks for its nucleus among
  // the best 64 first (a peaked distribution's is a few tokens) and widens the search while it falls short.
  std::vector<int32_t> order;
  double sum = 0;
  size_t keep = 0;
  if (params.top_k > 0) {
    order = best_ids(logits, n, std::min(params.top_k, n));
    for (const int32_t t : order) sum += weight(t);
    if (params.top_p < 1.0f) keep = nucleus_size(order, weight, sum, params.top_p);
  } else {
    for (int32_t t = 0; t < n; ++t) sum += weight(t);
    for (int64_t size = 64; keep == 0 && static_cast<int64_t>(order.size()) < n; size *= 8) {
      order = best_ids(logits, n, std::min(size, n));
      keep = nucleus_size(order, weight, sum, params.top_p);
    }
  }
  if (keep == 0) keep = order.size();  // no cut, or rounding kept the cumulative sum just below top_p
  // Min-p: the kept prefix is in descending order, so the cut is where p / p_max first drops below min_p.
  for (size_t i = 1; i < keep; ++i) {
    if (weight(order[i]) < params.min_p) {
      keep = i;
      break;
    }
  }
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += weight(order[i]);
  double u = rng.uniform_double() * total;
  for (size_t i = 0; i < keep; ++i) {
    u -= weight(order[i]);
    if (u < 0) return order[i];
  }
  return order[keep - 1];
}

double log_sum_exp(const std::vector<float>& logits) {
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (const float l : logits) sum += std::exp(l - max_logit);
  return max_logit + std::log(sum);
}

std::vector<TokenLogprob> top_logprobs(const std::vector<float>& logits, int64_t count, double log_z) {
  const int64_t n = static_cast<int64_t>(logits.size());
  std::vector<TokenLogprob> top;
  if (count == 0) return top;
  for (const int32_t t : best_ids(logits.data(), n, std::min(count, n)))
    top.push_back({t, static_cast<float>(logits[t] - log_z)});
  return top;
}

void check_token(int32_t id, size_t vocab, const char* what) {
  if (id < 0 || static_cast<size_t>(id) >= vocab)
    invalid_argument(what, " token id ", id, " is outside the vocabulary [0, ", vocab, ")");
}

using TokenLogits = std::vector<std::pair<int32_t, float>>;  // (id, logit), in increasing id order

// Where `id` is or would go in `list`.
TokenLogits::iterator find_token(TokenLogits& list, int32_t id) {
  return std::lower_bound(list.begin(), list.end(), id, [](const auto& entry, int32_t t) { return entry.first < t; });
}

// The penalized logit of each token that a penalty changes, once per token. A list rather than a changed copy of
// the logits: choose_next_token swaps these in and so keeps the raw values without copying the vocabulary.
TokenLogits penalized_logits(const std::vector<float>& logits, const SamplingParams& params,
                             const std::vector<int32_t>& prompt, const std::vector<int32_t>& output) {
  const size_t vocab = logits.size();
  TokenLogits changed;
  if (params.repetition_penalty != 1.0f) {
    // Once per distinct token, however often it occurs (Hugging Face's gather/scatter, vLLM's mask).
    std::vector<bool> seen(vocab);
    for (const std::vector<int32_t>* ids : {&prompt, &output}) {
      for (const int32_t t : *ids) {
        check_token(t, vocab, ids == &prompt ? "prompt" : "output");
        if (seen[t]) continue;
        seen[t] = true;
        const float l = logits[t];
        changed.push_back({t, l > 0 ? l / params.repetition_penalty : l * params.repetition_penalty});
      }
    }
    std::sort(changed.begin(), changed.end());
  }
  if (params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f) {
    // Occurrence counts from a sorted copy of the output. Each output token is either in `changed` already (the
    // repetition penalty covered it) or, with `changed` empty, appended in increasing order: no insertion moves.
    std::vector<int32_t> sorted = output;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0, end = 0; i < sorted.size(); i = end) {
      const int32_t t = sorted[i];
      check_token(t, vocab, "output");
      for (end = i; end < sorted.size() && sorted[end] == t;) ++end;
      auto it = find_token(changed, t);
      if (it == changed.end() || it->first != t) it = changed.insert(it, {t, logits[t]});
      it->second -= params.frequency_penalty * static_cast<float>(end - i);  // vLLM's order: frequency, then presence
      it->second -= params.presence_penalty;
    }
  }
  return changed;
}

}  // namespace

void SamplingParams::validate() const {
  // Written as !(in range) so that NaN, which fails every comparison, is rejected too.
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    invalid_argument("temperature must be a finite number >= 0 (0 = greedy), got ", temperature);
  if (top_k < 0) invalid_argument("top_k must be >= 0 (0 = no limit), got ", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f)) invalid_argument("top_p must be in (0, 1] (1 = no limit), got ", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) invalid_argument("min_p must be in [0, 1] (0 = no limit), got ", min_p);
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty))
    invalid_argument("repetition_penalty must be a finite number > 0 (1 = none), got ", repetition_penalty);
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    invalid_argument("presence_penalty must be in [-2, 2] (0 = none), got ", presence_penalty);
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    invalid_argument("frequency_penalty must be in [-2, 2] (0 = none), got ", frequency_penalty);
  if (logprobs < 0 || logprobs > kMaxLogprobs)
    invalid_argument("logprobs must be in [0, ", kMaxLogprobs, "] (0 = none), got ", logprobs);
}

int32_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

std::vector<int32_t> argmax_rows(const Tensor& logits, int64_t vocab) {
  const int64_t rows = logits.size(0);
  Tensor ids = Tensor::empty({rows}, DType::kI32, logits.device());
  kernels::argmax_rows(ids, logits, vocab);
  const Tensor host = ids.to(Device::kCPU);
  const int32_t* p = host.data_as<int32_t>();
  return std::vector<int32_t>(p, p + rows);
}

int32_t sample_token(const std::vector<float>& logits, const SamplingParams& params, Rng& rng) {
  return draw(logits.data(), static_cast<int64_t>(logits.size()), params, rng);
}

void apply_penalties(std::vector<float>& logits, const SamplingParams& params, const std::vector<int32_t>& prompt,
                     const std::vector<int32_t>& output) {
  for (const auto& [t, l] : penalized_logits(logits, params, prompt, output)) logits[t] = l;
}

SampledToken choose_next_token(std::vector<float> logits, const SamplingParams& params,
                               const std::vector<int32_t>& prompt, const std::vector<int32_t>& output, Rng& rng,
                               std::optional<int32_t> forced) {
  SW_CHECK(!logits.empty(), "no logits to choose from");
  if (forced) check_token(*forced, logits.size(), "the forced");
  // Log-probabilities are the model's: taken from the logits before the penalties change them. Only when asked
  // for: the full-vocabulary log-sum-exp is most of a greedy choice's cost.
  const bool report = params.logprobs > 0;
  const double log_z = report ? log_sum_exp(logits) : 0.0;
  SampledToken out;
  if (report) out.top = top_logprobs(logits, params.logprobs, log_z);
  // The penalized values go into `logits`, and the raw ones they replace into `swapped`.
  TokenLogits swapped = penalized_logits(logits, params, prompt, output);
  for (auto& [t, l] : swapped) std::swap(logits[t], l);
  out.token = forced ? *forced : draw(logits.data(), static_cast<int64_t>(logits.size()), params, rng);
  const auto raw = find_token(swapped, out.token);
  const float raw_logit = raw != swapped.end() && raw->first == out.token ? raw->second : logits[out.token];
  if (report) out.logprob = static_cast<float>(raw_logit - log_z);
  return out;
}

}  // namespace stepwise
