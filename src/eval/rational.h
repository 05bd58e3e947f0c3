// Exact rational numbers for answer checking: 128-bit numerator and denominator, every operation overflow-checked.
// An operation whose result does not fit gives nullopt, and the caller falls back to doubles; nothing here
// allocates or loops beyond a bounded number of steps.
#pragma once

#include <optional>
#include <string>

namespace stepwise {

using Int128 = __int128;

// Always in lowest terms with den > 0 (as made by the functions below).
struct Rational {
  Int128 num = 0;
  Int128 den = 1;
  bool operator==(const Rational& other) const { return num == other.num && den == other.den; }
};

double to_double(const Rational& q);
// "12", "-0.125", "3e5", "1.5E-3" -> exact value; nullopt when malformed or too large.
std::optional<Rational> parse_decimal(const std::string& literal);
Rational negate(const Rational& q);
std::optional<Rational> add(const Rational& a, const Rational& b);
std::optional<Rational> multiply(const Rational& a, const Rational& b);
std::optional<Rational> divide(const Rational& a, const Rational& b);
// q^e for an integer e (0^0 = 1, as sympy); nullopt on overflow or 0^negative.
std::optional<Rational> rational_power(const Rational& q, int e);
// The exact real n-th root (n >= 1) when there is one: 8/27 -> 2/3, -8 with n = 3 -> -2; else nullopt.
std::optional<Rational> rational_root(const Rational& q, int n);

}  // namespace stepwise
