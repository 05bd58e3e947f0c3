// Whether two final answers are mathematically the same, and how that was decided. Both are normalised
// (normalize_answer), then parsed into a value:
//   - a choice: A-E, (A)-(E), \text{(A)} -> the letter, compared case-insensitively;
//   - a matrix (pmatrix, bmatrix, ...), element-wise; a one-row or one-column matrix also equals a tuple;
//   - a union of intervals (\cup), order-insensitive; a set \{1, 2\}, order-insensitive, with a \pm element
//     standing for its two values;
//   - a tuple or interval (a, b], with its brackets: (1,2) and [1,2] differ (open interval or tuple vs closed
//     interval or list); element-wise and order-sensitive; \infty as an endpoint;
//   - a bare comma list "1, 2" (MATH's "enter all the solutions, separated by commas"): order-insensitive
//     against another bare list or a set, order-sensitive against a tuple;
//   - a \pm b, the pair {a + b, a - b};
//   - an equation: "x = 3" equals "3" (a named value); two equations are equal when their sides are, or when
//     lhs - rhs agree up to sign (y = 2x+1 equals 2x+1 = y);
//   - a number in a base, 52_8 (equal to 52_8, 52_{8}, or the bare digits 52);
//   - text (a word of three or more letters that is no function name): compared case-insensitively;
//   - else an expression (math_expr.h): exactly as rationals, numerically, or at random points for variables.
// Two answers are unequal only when their parsed values differ. When either does not parse, or no verdict is
// possible (a side undefined, 1/0), the normalised strings are compared, case- and space-insensitively: the only
// use of a string comparison, and the decision is then reported as kString.
#pragma once

#include <string>

namespace stepwise {

enum class AnswerDecision { kRational, kNumeric, kSymbolic, kStructure, kChoice, kText, kString };

// "rational", "numeric", "symbolic", "structure", "choice", "text", "string".
const char* decision_name(AnswerDecision decision);

struct AnswerComparison {
  bool equal = false;
  AnswerDecision decision = AnswerDecision::kString;
};

// `predicted` and `reference` as extracted (normalised here).
AnswerComparison compare_answers(const std::string& predicted, const std::string& reference);

}  // namespace stepwise
