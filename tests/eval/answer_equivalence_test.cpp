// The grader's equivalence check (eval/answer_equivalence.h) on 198 hand-written pairs (104 equivalent,
// 94 not) across every kind of answer: numbers, fractions, percent and units, radicals and pi, expressions
// in variables, equations, tuples, intervals, unions, sets, \pm pairs, matrices, choices, text, bases; and the
// robustness limits (deep nesting, huge exponents, long input).
#include <gtest/gtest.h>

#include <string>

#include "eval/answer.h"
#include "eval/answer_equivalence.h"

namespace stepwise {
namespace {

struct Pair {
  const char* predicted;
  const char* reference;
  bool equivalent;
  const char* why;
};

// clang-format off
const Pair kPairs[] = {
    {R"(\frac{1}{2})", "0.5", true, "fraction vs decimal"},
    {"1/2", R"(\frac12)", true, "plain vs unbraced \\frac"},
    {R"(\dfrac{14}{3})", R"(\frac{14}{3})", true, "\\dfrac"},
    {R"(\tfrac{3}{4})", "0.75", true, "\\tfrac"},
    {"14/3", R"(\frac{14}{3})", true, "slash fraction"},
    {"18.0", "18", true, "trailing zero decimal"},
    {"18.", "18", true, "trailing period"},
    {"-0.25", R"(-\frac14)", true, "negative fraction"},
    {"1,234", "1234", true, "thousands separator"},
    {R"(11,\! 111,\! 111,\! 100)", "11111111100", true, "\\! thousands separators"},
    {" $18 ", "18", true, "dollar and spaces"},
    {R"(\$36)", "36", true, "escaped dollar"},
    {R"(10\%)", "10", true, "book convention: % dropped"},
    {"25%", "25", true, "plain percent dropped"},
    {R"(90^\circ)", "90", true, "degrees"},
    {R"(90^{\circ})", "90", true, "braced degrees"},
    {"45°", "45", true, "unicode degree"},
    {R"(5\text{ cm})", "5", true, "unit in \\text"},
    {"12 inches", "12", true, "trailing unit word"},
    {R"(864 \mbox{ inches}^2)", "864", true, "unit with power"},
    {R"(15\text{ square units})", "15", true, "square units"},
    {"5.4cents", R"(5.4 \text{ cents})", true, "attached unit"},
    {R"(\left( 3, \frac{\pi}{2} \right))", "(3,pi/2)", true, "\\left \\right and plain pi"},
    {R"(\sqrt{8})", R"(2\sqrt2)", true, "radical simplification"},
    {R"(\sqrt{12})", R"(2\sqrt{3})", true, "radical"},
    {R"(\frac{\sqrt{3}}{3})", R"(\frac{1}{\sqrt3})", true, "rationalised denominator"},
    {R"(3\sqrt{13})", "3*sqrt(13)", true, "plain sqrt"},
    {R"(\sqrt[3]{8})", "2", true, "cube root exact"},
    {R"(\sqrt[3]{-27})", "-3", true, "real odd root"},
    {"8^{1/3}", "2", true, "fractional power exact"},
    {"2^{10}", "1024", true, "braced power"},
    {"2^10", "1024", true, "book reads 2^10 as 1024"},
    {"2**10", "1024", true, "python power"},
    {"2^{-2}", "0.25", true, "negative exponent"},
    {R"(\pi)", "pi", true, "pi spellings"},
    {R"(3\pi)", R"(\pi + 2\pi)", true, "implicit multiplication with pi"},
    {R"(288 \pi)", "288pi", true, "plain pi product"},
    {R"(\frac{20000}{\pi})", "20000/pi", true, "division by pi"},
    {R"(18+2\pi)", R"(2\pi+18)", true, "commuted sum with pi"},
    {R"(e^2)", R"(e\cdot e)", true, "Euler's e"},
    {R"(2\cdot 3)", "6", true, "\\cdot"},
    {R"(2\times 3)", "6", true, "\\times"},
    {"5!", "120", true, "factorial"},
    {R"(\binom{5}{2})", "10", true, "binomial"},
    {R"(\dbinom{6}{3})", "20", true, "\\dbinom"},
    {R"(1\frac{4}{5})", "9/5", true, "mixed number"},
    {R"(\frac{1}{3} + \frac{1}{6})", "0.5", true, "sum of fractions"},
    {"0.1 + 0.2", "0.3", true, "exact decimals"},
    {R"(\frac{10^{20}+1}{10^{20}})", R"(1 + 10^{-20})", true, "exact beyond doubles"},
    {R"(|{-3}|)", "3", true, "absolute value"},
    {"x^2+2x+1", "(x+1)^2", true, "polynomial identity"},
    {"p - q", "-q + p", true, "variables commuted"},
    {"2xy", "2yx", true, "product of variables"},
    {R"(\frac{x}{2})", "0.5x", true, "variable fraction"},
    {"6 - 5i", "-5i + 6", true, "i as a variable"},
    {R"(\sin^2 x + \cos^2 x)", "1", true, "trig identity"},
    {R"(\sqrt{x^2})", "|x|", true, "sqrt of square"},
    {R"(\frac{x^2-1}{x-1})", "x+1", true, "removable singularity skipped"},
    {R"(2\alpha)", R"(\alpha + \alpha)", true, "greek variable"},
    {"a_1 + a_2", "a_2 + a_1", true, "subscripted variables"},
    {"y = 2x+1", "y=1+2x", true, "equation, commuted rhs"},
    {"2x+1 = y", "y = 2x + 1", true, "equation sides swapped"},
    {"x = 5", "5", true, "named value"},
    {"5", "x=5", true, "named value, reference side"},
    {"5x - 7y + 11z + 4 = 0", "-5x+7y-11z-4=0", true, "equation negated"},
    {"(1,2)", "(1, 2)", true, "tuple"},
    {R"(\left(\frac{3}{2}, -13\right))", "(1.5,-13)", true, "tuple of numbers"},
    {"[1,2]", R"(\left[1,2\right])", true, "closed interval"},
    {"(1,2]", "(1, 2]", true, "half-open interval"},
    {R"((-\infty, 3])", R"((-\infty,3])", true, "interval to infinity"},
    {R"((0,9) \cup (9,36))", R"((9,36) \cup (0,9))", true, "union order-insensitive"},
    {R"((-\infty, 2) \cup (3, \infty))", R"((-\infty,2)\cup(3,\infty))", true, "union with infinity"},
    {R"(\{1,2\})", R"(\{2,1\})", true, "set order-insensitive"},
    {R"(\{1\pm\sqrt{5},-2\})", R"(\{-2, 1+\sqrt5, 1-\sqrt5\})", true, "\\pm inside a set"},
    {R"(1 \pm \sqrt{2})", R"(1+\sqrt2, 1-\sqrt2)", true, "\\pm as a pair"},
    {R"(3 \pm 2 \sqrt{2})", R"(3-2\sqrt2, 3+2\sqrt2)", true, "\\pm pair, either order"},
    {"3, 5, 7", "3, 7, 5", true, "bare list of solutions, order-insensitive"},
    {"-2,1", "1, -2", true, "bare list"},
    {"1, 2", "(1, 2)", true, "bare list is a tuple"},
    {"x = 1, 2", "1, 2", true, "named list"},
    {R"(x \in [-2,7])", "[-2, 7]", true, "membership"},
    {R"(\begin{pmatrix} 1 \\ 2 \end{pmatrix})", R"(\begin{bmatrix}1\\2\end{bmatrix})", true, "pmatrix vs bmatrix"},
    {R"(\begin{pmatrix} -1/3 \\ 2/3 \end{pmatrix})", R"(\begin{pmatrix} -\frac{1}{3} \\ \frac{2}{3} \end{pmatrix})", true, "matrix entries as fractions"},
    {R"(\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix})", R"(\begin{pmatrix}1&0\\0&1\end{pmatrix})", true, "2x2 matrix"},
    {R"(\begin{pmatrix} 1 \\ 2 \\ 3 \end{pmatrix})", "(1,2,3)", true, "column vector vs tuple"},
    {"(A)", "A", true, "choice letter"},
    {R"(\text{(C)})", "C", true, "choice in \\text"},
    {R"(\textbf{(B)})", "(b)", true, "choice case-insensitive"},
    {R"(\text{Evelyn})", "Evelyn", true, "text answer"},
    {"evelyn", R"(\text{Evelyn})", true, "text case-insensitive"},
    {R"(\text{odd})", "Odd.", true, "text with period"},
    {"52_8", "52_{8}", true, "base subscript"},
    {"52", "52_8", true, "base digits without the subscript"},
    {R"(\cot x)", R"(\cot x)", true, "identical function"},
    {"c. 3", "3", true, "leading choice label"},
    {"2^{99999}", "2^{99999}", true, "huge power: same string"},
    {"1/0", "1/0", true, "undefined both: string fallback"},
    {R"(\infty)", R"(\infty)", true, "infinity"},
    {"x²", "x^2", true, "unicode superscript"},
    {"3·4", "12", true, "unicode middle dot"},
    {"−5", "-5", true, "unicode minus"},
    {"π/2", R"(\frac{\pi}{2})", true, "unicode pi"},
    {R"(\frac{1}{2})", "0.50", true, "decimal with zero"},
    {"1e3", "1000", true, "scientific notation"},
    {"(1,2)", "[1,2]", false, "open vs closed"},
    {"(1,2]", "(1,2)", false, "half-open vs open"},
    {"[1,2)", "(1,2]", false, "mirrored half-open"},
    {R"((-\infty, 0))", R"((-\infty, 0])", false, "open vs closed endpoint"},
    {R"([-\sqrt{3}, \sqrt{3}))", R"((-\sqrt{3}, \sqrt{3}))", false, "closed vs open left"},
    {R"((-\infty, 3])", R"((-\infty, 4])", false, "different endpoint"},
    {R"((-\infty, 3])", R"((3, \infty))", false, "infinity sign differs"},
    {R"((0,9) \cup (9,36))", "(0,36)", false, "union vs interval"},
    {R"((-\infty, 2] \cup [3, \infty))", R"((-\infty, 2) \cup (3, \infty))", false, "union endpoints closed"},
    {R"(\{1,2\})", R"(\{1,3\})", false, "sets differ"},
    {R"(\{1,2\})", R"(\{1,2,3\})", false, "set sizes differ"},
    {"(1,2)", "(2,1)", false, "tuple order"},
    {"(1,2,3)", "(1,2)", false, "tuple length"},
    {"(1,2)", "1", false, "tuple vs number"},
    {"3, 5", "3, 5, 7", false, "list length"},
    {"1, 2", "[1, 2]", false, "bare list vs closed interval"},
    {R"(1 \pm \sqrt{2})", R"(1 + \sqrt{2})", false, "\\pm pair vs one value"},
    {R"(1 \pm \sqrt{2})", R"(1 \pm \sqrt{3})", false, "\\pm pairs differ"},
    {R"(\begin{pmatrix} 1 \\ 2 \end{pmatrix})", R"(\begin{pmatrix} 2 \\ 1 \end{pmatrix})", false, "vector order"},
    {R"(\begin{pmatrix} 1 & 2 \end{pmatrix})", R"(\begin{pmatrix} 1 \\ 2 \end{pmatrix})", false, "row vs column shape"},
    {R"(\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix})", R"(\begin{pmatrix} 1 & 0 \\ 0 & -1 \end{pmatrix})", false, "matrix entry"},
    {R"(\begin{pmatrix} -7 \\ 16 \\ 5 \end{pmatrix})", "-5", false, "matrix vs number"},
    {"(A)", "(B)", false, "different choices"},
    {R"(\text{(B)})", "1.2", false, "choice vs number"},
    {"A", "(C)", false, "choice letters differ"},
    {R"(\text{Evelyn})", "Angela", false, "different names"},
    {R"(\text{even})", R"(\text{odd})", false, "different words"},
    {"52_8", "52_9", false, "different base"},
    {"52_8", "42", false, "decimal value is not the base-8 digits"},
    {"x = 5", "y = 5", false, "equations in different variables"},
    {"y = 2x + 3", R"(y = \frac{1}{2}x + \frac{3}{2})", false, "different lines"},
    {"x = 5", "6", false, "named value differs"},
    {"2x = 10", "x = 5", false, "equivalent but not the same equation"},
    {"x^2+2x+1", "(x-1)^2", false, "polynomial differs"},
    {"x^5 + x^4", "x^5 - x^4", false, "sign of a term"},
    {"2k", "2", false, "variable vs number"},
    {"x", "y", false, "different variables"},
    {"x", "X", false, "variables are case-sensitive"},
    {R"(\sqrt{x^2})", "x", false, "|x| differs from x at negative points"},
    {"8n^2 + 4n + 1", "1/2", false, "polynomial vs number"},
    {"6-5i", "6+5i", false, "imaginary sign"},
    {R"(\frac{11+9a}{20})", "11+9a/20", false, "precedence"},
    {R"(\frac{1}{2})", "0.51", false, "close decimals"},
    {"0.333333333", R"(\frac13)", false, "truncated decimal is not exact"},
    {R"(\sqrt2)", "1.41421356", false, "truncated irrational beyond tolerance"},
    {R"(\pi)", "3.14159", false, "pi approximation"},
    {R"(\pi)", "3.14", false, "pi rough approximation"},
    {R"(10\%)", "0.1", false, "book convention: 10% is 10"},
    {"10", "100", false, "integers"},
    {"-50", "50", false, "sign"},
    {"1,23", "123", false, "not a thousands separator"},
    {"(1,234)", "1234", false, "tuple, not thousands"},
    {"17", "18", false, "off by one"},
    {R"(3\sqrt{13})", R"(\sqrt{13})", false, "coefficient"},
    {R"(2\sqrt{5})", R"(\sqrt{5})", false, "coefficient of radical"},
    {R"(12\pi)", R"(6\pi)", false, "multiple of pi"},
    {R"(7\pi)", R"(33\pi)", false, "pi multiples"},
    {R"(\frac{\sqrt{3}}{3})", "1/3", false, "missing root"},
    {R"(\sqrt{66})", "2.84", false, "wrong decimal"},
    {R"(1\frac{4}{5})", "4/5", false, "mixed number is a sum"},
    {"2^{99999}", "2^{99998}", false, "huge powers differ: undefined, string fallback"},
    {"2^{64}", "2^{64}+1", false, "exact big integers"},
    {R"(\frac{10^{20}+1}{10^{20}})", "1", false, "exact beyond double precision"},
    {"5!", "24", false, "factorial"},
    {R"(\binom{5}{2})", "20", false, "binomial"},
    {R"(e^2)", "7.389", false, "e approximation"},
    {"", "0", false, "empty prediction"},
    {"1/0", "0", false, "undefined vs number: string fallback"},
    {R"(12^{\mathrm{th}} grade)", "12", false, "text vs number: string fallback"},
    {R"((0, 36) \setminus \{9\})", R"((0,9) \cup (9,36))", false, "set difference not understood: string fallback"},
    {"x > 3", "x < 3", false, "inequalities: string fallback"},
    {"yes", "no", false, "text"},
    {"3", "-3", false, "negation"},
    {"0", "0.0001", false, "small difference near zero"},
    {R"(\frac{3}{56})", "6", false, "wrong fraction"},
    {"196", "9", false, "wrong integer"},
    {R"(\sqrt{51})", "10", false, "radical vs integer"},
    {"1+274i", "2 + i", false, "complex-looking"},
    {R"(\frac{1 + \sqrt{5}}{2})", "-2", false, "golden ratio vs -2"},
    {R"(1+2\sqrt{3})", "6/3", false, "sum with radical"},
    {R"(70 \sqrt{2})", "400", false, "radical product"},
    {R"(\left(\frac{3}{5},\frac{8}{3}\right])", R"((-\infty, \frac{3}{5}))", false, "different intervals"},
    {R"((5,\infty))", R"((-\infty, 5) \cup (5, \infty))", false, "interval vs union"},
    {R"(\{1\pm\sqrt{5},-2\})", "3", false, "set vs number"},
    {"(6,31,-1)", "0", false, "triple vs number"},
    {"(1,-16,-4,43)", "(1,-16,-4,42)", false, "last element"},
    {"x^8 + x^7 + x", "x^8 + x^7 + 1", false, "last term"},
    {"3R^2", "4", false, "expression vs number"},
    {R"(\text{Navin})", "Ian", false, "names"},
    {"1 - 12i", "6 -16i", false, "complex-looking differ"},
    {R"(\frac{14}{3})", R"(\frac{3}{14})", false, "inverted fraction"},
    {"2^{0.5}", "1.4142", false, "fractional power vs decimal"},
    {"(3, 4]", "2", false, "interval vs number"},
    {R"(\sqrt[3]{9})", R"(\sqrt{3})", false, "cube vs square root"},
};
// clang-format on

TEST(AnswerEquivalence, HandWrittenPairs) {
  int equivalent = 0;
  for (const Pair& p : kPairs) {
    const AnswerComparison c = compare_answers(p.predicted, p.reference);
    EXPECT_EQ(c.equal, p.equivalent) << p.why << ": '" << p.predicted << "' vs '" << p.reference << "' (decided by "
                                     << decision_name(c.decision) << ")";
    // Symmetric: which side is the reference does not change the verdict.
    EXPECT_EQ(compare_answers(p.reference, p.predicted).equal, p.equivalent) << p.why << " (swapped)";
    equivalent += p.equivalent;
  }
  EXPECT_EQ(std::size(kPairs), 198u);
  EXPECT_EQ(equivalent, 104);
}

TEST(AnswerEquivalence, DecisionKinds) {
  const auto decided_by = [](const char* a, const char* b) {
    return std::string(decision_name(compare_answers(a, b).decision));
  };
  EXPECT_EQ(decided_by("\\frac{1}{2}", "0.5"), "rational");
  EXPECT_EQ(decided_by("\\sqrt{8}", "2\\sqrt2"), "numeric");
  EXPECT_EQ(decided_by("x^2+2x+1", "(x+1)^2"), "symbolic");
  EXPECT_EQ(decided_by("(1,2)", "[1,2]"), "structure");
  EXPECT_EQ(decided_by("(A)", "\\text{(A)}"), "choice");
  EXPECT_EQ(decided_by("\\text{Evelyn}", "evelyn"), "text");
  EXPECT_EQ(decided_by("1/0", "1/0"), "string");
  EXPECT_EQ(decided_by("2^{99999}", "2^{99999}"), "string");  // beyond a double: no value, no verdict
}

TEST(AnswerEquivalence, NormalisedForms) {
  EXPECT_EQ(normalize_answer("\\left( 3, \\dfrac{\\pi}{2} \\right)"), "(3,\\frac{\\pi}{2})");
  EXPECT_EQ(normalize_answer("11,\\! 111,\\! 111,\\! 100"), "11111111100");
  EXPECT_EQ(normalize_answer("90^\\circ"), "90");
  EXPECT_EQ(normalize_answer("10\\%"), "10");  // the book drops the percent sign
  EXPECT_EQ(normalize_answer("\\$18.90."), "18.90");
  EXPECT_EQ(normalize_answer("5\\text{ cm}^2"), "5");
  EXPECT_EQ(normalize_answer("\\text{Evelyn}"), "Evelyn");
  EXPECT_EQ(normalize_answer("\\pi r^2"), "\\pi r^2");  // the space after a command name stays
  EXPECT_EQ(normalize_answer("(1,234)"), "(1,234)");    // a tuple, not a thousands separator
  EXPECT_EQ(normalize_answer("b: 2"), "2");
}

// Arbitrary model output must neither crash, hang, nor exhaust the stack or memory.
TEST(AnswerEquivalence, HostileInputIsSafe) {
  const std::string deep = std::string(100000, '(') + "1" + std::string(100000, ')');
  EXPECT_TRUE(compare_answers(deep, deep).equal);  // too deep to parse: the string fallback
  EXPECT_FALSE(compare_answers(deep, "1").equal);
  const std::string braces = std::string(5000, '{') + "1" + std::string(5000, '}');
  EXPECT_FALSE(compare_answers(braces, "2").equal);
  const std::string fracs = [] {
    std::string s;
    for (int i = 0; i < 3000; ++i) s += "\\frac{1}{";
    return s + "2" + std::string(3000, '}');
  }();
  EXPECT_FALSE(compare_answers(fracs, "0.5").equal);
  const std::string towers = "2^{2^{2^{2^{2^{2^{2^{2}}}}}}}";
  EXPECT_FALSE(compare_answers(towers, "4").equal);
  EXPECT_FALSE(compare_answers("10^{10^{10}}", "1").equal);
  EXPECT_FALSE(compare_answers("99999!", "1").equal);
  EXPECT_FALSE(compare_answers("\\binom{1000000000}{500000000}", "1").equal);
  const std::string long_sum = [] {
    std::string s = "1";
    for (int i = 0; i < 100000; ++i) s += "+1";
    return s;
  }();
  EXPECT_FALSE(compare_answers(long_sum, "100001").equal);  // longer than any answer: not parsed
  EXPECT_TRUE(compare_answers(long_sum, long_sum).equal);
  const std::string garbage = "\\sqrt[\\frac{}{]{(\\{[}])\\cup\\pm=&\\\\\\begin{pmatrix}";
  EXPECT_FALSE(compare_answers(garbage, "1").equal);
  for (const char* odd : {"(",
                          ")",
                          "\\",
                          "{",
                          "}",
                          "^",
                          "_",
                          "\\frac",
                          "\\sqrt",
                          "x^",
                          "1/",
                          "\\{",
                          "\\}",
                          ",",
                          "=",
                          "\\pm",
                          "(,)",
                          "[,]",
                          "\\begin{pmatrix}\\end{pmatrix}",
                          "|",
                          "||",
                          "!",
                          "0^{-1}",
                          "_8"})
    EXPECT_FALSE(compare_answers(odd, "7").equal) << odd;
}

}  // namespace
}  // namespace stepwise
