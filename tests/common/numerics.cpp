// Errors for the numerical tests (see numerics.h).
#include "numerics.h"

#include <algorithm>
#include <cmath>

namespace stepwise::testing {

namespace {

double ratio(double err, double scale) {
  if (err == 0) return 0;
  return scale == 0 ? INFINITY : err / scale;
}

template <class Ours, class Ref>
double rel_error_of(const std::vector<Ours>& ours, const std::vector<Ref>& ref, Norm norm) {
  if (ours.size() != ref.size()) return INFINITY;
  double err = 0, scale = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(ours[i]) - static_cast<double>(ref[i]), r = static_cast<double>(ref[i]);
    if (std::isnan(d)) return INFINITY;  // std::max would pass over a NaN
    if (norm == Norm::kMax) {
      err = std::max(err, std::fabs(d));
      scale = std::max(scale, std::fabs(r));
    } else {
      err += d * d;
      scale += r * r;
    }
  }
  return norm == Norm::kMax ? ratio(err, scale) : ratio(std::sqrt(err), std::sqrt(scale));
}

}  // namespace

double rel_error(const std::vector<float>& ours, const std::vector<double>& ref, Norm norm) {
  return rel_error_of(ours, ref, norm);
}
double rel_error(const std::vector<double>& ours, const std::vector<double>& ref, Norm norm) {
  return rel_error_of(ours, ref, norm);
}
double rel_error(const std::vector<float>& ours, const std::vector<float>& ref, Norm norm) {
  return rel_error_of(ours, ref, norm);
}

double median_abs_error(const std::vector<float>& ours, const std::vector<double>& ref) {
  if (ours.size() != ref.size() || ref.empty()) return INFINITY;
  std::vector<double> diffs(ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    diffs[i] = std::fabs(static_cast<double>(ours[i]) - ref[i]);
    if (std::isnan(diffs[i])) return INFINITY;
  }
  std::nth_element(diffs.begin(), diffs.begin() + diffs.size() / 2, diffs.end());
  return diffs[diffs.size() / 2];
}

double rel_error(double ours, double ref) {
  if (std::isnan(ours) || std::isnan(ref)) return INFINITY;
  return ratio(std::fabs(ours - ref), std::fabs(ref));
}

}  // namespace stepwise::testing
