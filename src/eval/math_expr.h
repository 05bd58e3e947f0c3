// A small parser and evaluator for the math in final answers: LaTeX (\frac, \sqrt[n]{}, ^, \pi, \cdot, \times,
// \binom, \sin ...) and plain forms (sqrt(2), pi/2, 3*x**2), with implicit multiplication (2\sqrt2, 3\pi, 2xy).
// Values are exact rationals (overflow-checked 128-bit) while every step stays rational, else doubles. Two
// expressions are compared exactly when both are rational, numerically at a relative tolerance otherwise, and at
// seeded random points when they contain variables. Arbitrary model output is safe to give: input length,
// nesting depth and exponent sizes are bounded, and anything beyond them simply does not parse or evaluate.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace stepwise {

// Inputs longer than this do not parse (the book's grader has the same limit against long garbage output).
inline constexpr size_t kMaxExpressionLength = 2000;

struct MathNode;

// A parsed expression; cheap to copy (the tree is shared and immutable).
class MathExpr {
 public:
  // The expression in `text` (a normalised answer, no top-level commas), or nullopt when it does not parse.
  static std::optional<MathExpr> parse(const std::string& text);
  static MathExpr sum(const MathExpr& a, const MathExpr& b);
  static MathExpr difference(const MathExpr& a, const MathExpr& b);
  static MathExpr negation(const MathExpr& a);

  // Variable names (x, y_1, \theta), those of every operand.
  const std::set<std::string>& variables() const { return variables_; }
  const MathNode& root() const { return *root_; }

 private:
  MathExpr(std::shared_ptr<const MathNode> root, std::set<std::string> variables)
      : root_(std::move(root)), variables_(std::move(variables)) {}
  std::shared_ptr<const MathNode> root_;
  std::set<std::string> variables_;
};

// How a comparison was decided: both values exact rationals, numerically (irrational constants, roots, large
// powers), or at random points (variables).
enum class ExprDecision { kRational, kNumeric, kSymbolic };

struct ExprComparison {
  bool decided = false;  // false: a side is undefined (1/0, sqrt(-1)) everywhere tried; no verdict either way
  bool equal = false;
  ExprDecision decision = ExprDecision::kRational;
};

ExprComparison compare_expressions(const MathExpr& a, const MathExpr& b);

}  // namespace stepwise
