// Overflow-checked 128-bit rational arithmetic for exact answer comparison.
#include "eval/rational.h"

#include <cctype>
#include <cmath>

namespace stepwise {

namespace {

// Magnitudes stay below 2^124 so that negation and the intermediate sums of add() cannot overflow.
constexpr Int128 kLimit = static_cast<Int128>(1) << 124;

Int128 magnitude(Int128 v) { return v < 0 ? -v : v; }

Int128 gcd(Int128 a, Int128 b) {
  a = magnitude(a);
  b = magnitude(b);
  while (b != 0) {
    const Int128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

std::optional<Rational> reduced(Int128 num, Int128 den) {
  if (den == 0 || magnitude(num) >= kLimit || magnitude(den) >= kLimit) return std::nullopt;
  if (den < 0) {
    num = -num;
    den = -den;
  }
  const Int128 g = gcd(num, den);
  if (g > 1) {
    num /= g;
    den /= g;
  }
  return Rational{num, den};
}

std::optional<Int128> checked_mul(Int128 a, Int128 b) {
  Int128 r;
  if (__builtin_mul_overflow(a, b, &r) || magnitude(r) >= kLimit) return std::nullopt;
  return r;
}

// The exact n-th root of v >= 0, when v is a perfect n-th power.
std::optional<Int128> integer_root(Int128 v, int n) {
  if (v < 2 || n == 1) return v;
  const double estimate = std::round(std::pow(static_cast<double>(v), 1.0 / n));
  for (Int128 r = static_cast<Int128>(estimate) - 1; r <= static_cast<Int128>(estimate) + 1; ++r) {
    if (r < 0) continue;
    Int128 p = 1;
    bool fits = true;
    for (int i = 0; i < n && fits; ++i) {
      const auto next = checked_mul(p, r);
      fits = next.has_value();
      if (fits) p = *next;
    }
    if (fits && p == v) return r;
  }
  return std::nullopt;
}

}  // namespace

double to_double(const Rational& q) {
  return static_cast<double>(static_cast<long double>(q.num) / static_cast<long double>(q.den));
}

std::optional<Rational> parse_decimal(const std::string& literal) {
  Int128 num = 0, den = 1;
  size_t i = 0;
  bool digits = false, in_fraction = false;
  for (; i < literal.size(); ++i) {
    const char c = literal[i];
    if (c == '.' && !in_fraction) {
      in_fraction = true;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    digits = true;
    const auto shifted = checked_mul(num, 10);
    if (!shifted) return std::nullopt;
    num = *shifted + (c - '0');
    if (in_fraction) {
      const auto d = checked_mul(den, 10);
      if (!d) return std::nullopt;
      den = *d;
    }
  }
  if (!digits) return std::nullopt;
  if (i < literal.size()) {  // an exponent: e or E, a sign, digits
    if (literal[i] != 'e' && literal[i] != 'E') return std::nullopt;
    const int exponent = std::atoi(literal.c_str() + i + 1);
    if (exponent > 36 || exponent < -36) return std::nullopt;
    for (int k = 0; k < std::abs(exponent); ++k) {
      const auto scaled = checked_mul(exponent > 0 ? num : den, 10);
      if (!scaled) return std::nullopt;
      (exponent > 0 ? num : den) = *scaled;
    }
  }
  return reduced(num, den);
}

Rational negate(const Rational& q) { return Rational{-q.num, q.den}; }

std::optional<Rational> add(const Rational& a, const Rational& b) {
  const auto x = checked_mul(a.num, b.den), y = checked_mul(b.num, a.den), d = checked_mul(a.den, b.den);
  if (!x || !y || !d) return std::nullopt;
  return reduced(*x + *y, *d);
}

std::optional<Rational> multiply(const Rational& a, const Rational& b) {
  // Cross-cancelling first keeps the products small.
  const Int128 g1 = gcd(a.num, b.den), g2 = gcd(b.num, a.den);
  const Int128 s1 = g1 == 0 ? 1 : g1, s2 = g2 == 0 ? 1 : g2;
  const auto n = checked_mul(a.num / s1, b.num / s2), d = checked_mul(a.den / s2, b.den / s1);
  if (!n || !d) return std::nullopt;
  return reduced(*n, *d);
}

std::optional<Rational> divide(const Rational& a, const Rational& b) {
  if (b.num == 0) return std::nullopt;
  return multiply(a, Rational{b.num < 0 ? -b.den : b.den, magnitude(b.num)});
}

std::optional<Rational> rational_power(const Rational& q, int e) {
  if (e < 0) {
    if (q.num == 0) return std::nullopt;
    return rational_power(Rational{q.num < 0 ? -q.den : q.den, magnitude(q.num)}, -e);
  }
  // Square-and-multiply: at most 2 log2(e) checked steps, whatever e is.
  Rational result{1, 1}, base = q;
  while (e > 0) {
    if (e & 1) {
      const auto r = multiply(result, base);
      if (!r) return std::nullopt;
      result = *r;
    }
    e >>= 1;
    if (e > 0) {
      const auto b = multiply(base, base);
      if (!b) return std::nullopt;
      base = *b;
    }
  }
  return result;
}

std::optional<Rational> rational_root(const Rational& q, int n) {
  if (n < 1) return std::nullopt;
  if (q.num < 0 && n % 2 == 0) return std::nullopt;
  const auto num = integer_root(magnitude(q.num), n), den = integer_root(q.den, n);
  if (!num || !den) return std::nullopt;
  return Rational{q.num < 0 ? -*num : *num, *den};
}

}  // namespace stepwise
