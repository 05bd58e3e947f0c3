// Errors for every numerical test, defined once: the max-norm and L2-norm relative error of a vector against a
// reference, the relative error of a scalar, the median absolute error; and the unit roundoffs the tests' bounds
// are derived from. Sizes are checked before any element is read.
#pragma once

#include <vector>

namespace stepwise::testing {

// Unit roundoff: a correctly rounded result is the exact one times (1 + d) with |d| <= u.
constexpr double kF32Unit = 0x1p-24;  // 5.96e-8
constexpr double kF64Unit = 0x1p-53;  // 1.11e-16

enum class Norm {
  kMax,  // max |ours - ref| / max |ref|: the worst element, on the scale of the largest
  kL2,   // ||ours - ref|| / ||ref||: the whole tensor
};

// Infinity when the sizes differ or an element is NaN; 0 when both are zero; infinity when only the reference is.
double rel_error(const std::vector<float>& ours, const std::vector<double>& ref, Norm norm);
double rel_error(const std::vector<double>& ours, const std::vector<double>& ref, Norm norm);
double rel_error(const std::vector<float>& ours, const std::vector<float>& ref, Norm norm);
// |ours - ref| / |ref|, with the same conventions.
double rel_error(double ours, double ref);
// The median of |ours - ref| over the elements: insensitive to a minority of outliers (infinity as above).
double median_abs_error(const std::vector<float>& ours, const std::vector<double>& ref);

}  // namespace stepwise::testing
