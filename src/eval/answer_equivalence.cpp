// Structured answers (tuples, intervals, sets, matrices, choices, equations) and the equivalence decision.
#include "eval/answer_equivalence.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <tuple>
#include <vector>

#include "core/strings.h"
#include "eval/answer.h"
#include "eval/math_expr.h"

namespace stepwise {

namespace {

// Nested structures deeper than this (tuples of sets of tuples ...) are not answers; they do not parse.
constexpr int kMaxStructureDepth = 8;
// Answers beyond this many characters are compared as plain strings, which keeps every step linear in practice.
constexpr size_t kMaxAnswerLength = 8 * kMaxExpressionLength;

enum class Kind { kExpression, kEquation, kSequence, kSet, kUnion, kMatrix, kChoice, kText, kBaseNumber };

struct Parsed {
  Kind kind = Kind::kExpression;
  std::string text;              // choice: the letter; text: folded words; base number: digits; else the source
  std::optional<MathExpr> expr;  // expression; equation: lhs - rhs
  std::string name;              // equation: the variable on the left (empty if the lhs is no variable); base
  char open = 0, close = 0;      // sequence brackets, 0 for a bare list
  size_t columns = 0;            // matrix
  std::vector<Parsed> items;     // sequence, set, union, matrix (row-major); named equation: its value
};

enum class Verdict { kEqual, kDifferent, kUndecided };

struct Outcome {
  Verdict verdict = Verdict::kUndecided;
  AnswerDecision decision = AnswerDecision::kStructure;
};

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

std::string fold(const std::string& s) {
  std::string out;
  for (const char c : s)
    if (!std::isspace(static_cast<unsigned char>(c)))
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

// `s` split at every `separator` outside brackets ((), [], {}; an interval's mixed pair balances too).
std::vector<std::string> split_top_level(const std::string& s, const std::string& separator) {
  std::vector<std::string> parts;
  int depth = 0;
  size_t begin = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\' &&
        (s.compare(i, separator.size(), separator) != 0 ||
         (is_alpha(separator.back()) && i + separator.size() < s.size() && is_alpha(s[i + separator.size()])))) {
      ++i;  // an escaped character (\{, \\) or a command's first letter
      if (i < s.size() && (s[i] == '{' || s[i] == '(' || s[i] == '[')) ++depth;
      if (i < s.size() && (s[i] == '}' || s[i] == ')' || s[i] == ']')) --depth;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    const size_t after = i + separator.size();
    // "\in" must not match inside "\infty": a command separator ends where the command's letters do.
    const bool whole_command = !is_alpha(separator.back()) || after >= s.size() || !is_alpha(s[after]);
    if (depth == 0 && s.compare(i, separator.size(), separator) == 0 && whole_command) {
      parts.push_back(trim(s.substr(begin, i - begin)));
      begin = i + separator.size();
      i = begin - 1;
    }
  }
  parts.push_back(trim(s.substr(begin)));
  return parts;
}

// Whether the bracket at 0 closes at the very end, so that "(1,2)" is one group and "(1)(2)" is not.
bool wrapped(const std::string& s) {
  if (s.size() < 2 || (s[0] != '(' && s[0] != '[') || (s.back() != ')' && s.back() != ']')) return false;
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '(' || s[i] == '[' || s[i] == '{') ++depth;
    if (s[i] == ')' || s[i] == ']' || s[i] == '}') --depth;
    if (depth == 0 && i + 1 < s.size()) return false;
  }
  return depth == 0;
}

// A one-variable left-hand side: x, y_1, \theta.
bool is_variable_name(const std::string& s) {
  if (s.size() == 1) return is_alpha(s[0]) && s != "e";
  if (s.size() >= 3 && is_alpha(s[0]) && s[1] == '_') return s.find_first_of("+-*/=^") == std::string::npos;
  if (s[0] != '\\') return false;
  return std::all_of(s.begin() + 1, s.end(), [](char c) { return is_alpha(c); }) && MathExpr::parse(s).has_value();
}

// A word of three or more letters that is no command or function name marks a text answer ("Evelyn", "odd").
bool has_word(const std::string& s) {
  static const char* const kNames[] = {"sqrt", "sin", "cos", "tan", "cot", "sec",
                                       "csc",  "arc", "log", "ln",  "exp", "pi"};
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '\\') {  // a command name is no word
      for (++i; i < s.size() && is_alpha(s[i]);) ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && is_alpha(s[j])) ++j;
    if (j - i >= 3) {
      const std::string word = s.substr(i, j - i);
      if (std::none_of(std::begin(kNames), std::end(kNames),
                       [&](const char* name) { return word.compare(0, std::strlen(name), name) == 0; }))
        return true;
    }
    i = j > i ? j : i + 1;
  }
  return false;
}

std::optional<Parsed> parse(const std::string& s, int depth, bool allow_bare_list);

std::optional<Parsed> parse_items(Kind kind, const std::vector<std::string>& parts, int depth) {
  Parsed p;
  p.kind = kind;
  for (const std::string& part : parts) {
    auto item = parse(part, depth + 1, false);
    if (!item) return std::nullopt;
    // A \pm element of a set stands for its two values.
    if (kind == Kind::kSet && item->kind == Kind::kSet && item->text == "\\pm") {
      for (Parsed& value : item->items) p.items.push_back(std::move(value));
    } else {
      p.items.push_back(std::move(*item));
    }
  }
  return p;
}

std::optional<Parsed> parse_matrix(const std::string& s, int depth) {
  const size_t begin = s.find('}'), end = s.rfind("\\end{");
  if (begin == std::string::npos || end == std::string::npos || end < begin) return std::nullopt;
  std::vector<std::string> cells;
  size_t columns = 0, rows = 0;
  for (const std::string& row : split_top_level(s.substr(begin + 1, end - begin - 1), "\\\\")) {
    if (row.empty()) continue;
    const std::vector<std::string> row_cells = split_top_level(row, "&");
    if (rows++ > 0 && row_cells.size() != columns) return std::nullopt;
    columns = row_cells.size();
    cells.insert(cells.end(), row_cells.begin(), row_cells.end());
  }
  auto p = parse_items(Kind::kMatrix, cells, depth);
  if (!p || cells.empty()) return std::nullopt;
  p->columns = columns;
  return p;
}

std::optional<Parsed> parse_equation(const std::string& lhs, const std::string& rhs, int depth) {
  Parsed p;
  p.kind = Kind::kEquation;
  auto value = parse(rhs, depth + 1, true);
  auto left = MathExpr::parse(lhs);
  if (!value || !left) return std::nullopt;
  if (is_variable_name(lhs)) p.name = lhs;
  if (value->kind == Kind::kExpression) p.expr = MathExpr::difference(*left, *value->expr);
  if (p.name.empty() && !p.expr) return std::nullopt;
  p.items.push_back(std::move(*value));
  return p;
}

std::optional<Parsed> parse(const std::string& raw, int depth, bool allow_bare_list) {
  const std::string s = trim(raw);
  if (s.empty() || depth > kMaxStructureDepth || s.size() > kMaxExpressionLength) return std::nullopt;
  Parsed p;
  p.text = s;
  // Multiple choice: A-E, or a letter in parentheses.
  const bool bare_choice = s.size() == 1 && s[0] >= 'A' && s[0] <= 'E';
  const char letter = static_cast<char>(std::toupper(static_cast<unsigned char>(s.size() == 3 ? s[1] : s[0])));
  const bool paren_choice = s.size() == 3 && s[0] == '(' && s[2] == ')' && letter >= 'A' && letter <= 'E';
  if (bare_choice || paren_choice) {
    p.kind = Kind::kChoice;
    p.text = std::string(1, letter);
    return p;
  }
  if (s.compare(0, 7, "\\begin{") == 0 && s.find("matrix}") != std::string::npos) return parse_matrix(s, depth);
  if (const auto parts = split_top_level(s, "\\cup"); parts.size() > 1) return parse_items(Kind::kUnion, parts, depth);
  if (s.compare(0, 2, "\\{") == 0 && s.size() >= 4 && s.compare(s.size() - 2, 2, "\\}") == 0)
    return parse_items(Kind::kSet, split_top_level(s.substr(2, s.size() - 4), ","), depth);
  if (wrapped(s)) {
    const auto parts = split_top_level(s.substr(1, s.size() - 2), ",");
    if (parts.size() > 1) {
      auto seq = parse_items(Kind::kSequence, parts, depth);
      if (seq) std::tie(seq->open, seq->close) = std::make_pair(s[0], s.back());
      return seq;
    }
  }
  // "x = 1, 2" and "x \in (0, 1]": a named value, whatever the value's structure.
  for (const char* relation : {"=", "\\in"}) {
    const auto sides = split_top_level(s, relation);
    if (sides.size() == 2 && is_variable_name(sides[0])) return parse_equation(sides[0], sides[1], depth);
  }
  if (allow_bare_list) {
    const auto parts = split_top_level(s, ",");
    if (parts.size() > 1) return parse_items(Kind::kSequence, parts, depth);
  }
  for (const char* pm : {"\\pm", "\\mp"}) {
    const auto sides = split_top_level(s, pm);
    if (sides.size() != 2) continue;
    auto a = sides[0].empty() ? MathExpr::parse("0") : MathExpr::parse(sides[0]);
    auto b = MathExpr::parse(sides[1]);
    if (!a || !b) return std::nullopt;
    p.kind = Kind::kSet;
    p.text = "\\pm";
    for (const MathExpr& value : {MathExpr::sum(*a, *b), MathExpr::difference(*a, *b)}) {
      Parsed item;
      item.expr = value;
      p.items.push_back(std::move(item));
    }
    return p;
  }
  if (const auto sides = split_top_level(s, "="); sides.size() == 2) return parse_equation(sides[0], sides[1], depth);
  // A number in a base: 52_8, 1A_{16}.
  if (const size_t bar = s.find('_'); bar != std::string::npos && bar > 0) {
    const std::string digits = s.substr(0, bar);
    std::string base = s.substr(bar + 1);
    if (base.size() > 2 && base.front() == '{' && base.back() == '}') base = base.substr(1, base.size() - 2);
    const bool hex_digits = std::all_of(digits.begin(), digits.end(),
                                        [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
    const bool decimal_base = !base.empty() && base.size() <= 2 && std::all_of(base.begin(), base.end(), is_digit);
    if (hex_digits && decimal_base && std::any_of(digits.begin(), digits.end(), is_digit)) {
      p.kind = Kind::kBaseNumber;
      p.name = base;
      p.text = fold(digits);
      p.text.erase(0, std::min(p.text.find_first_not_of('0'), p.text.size() - 1));
      return p;
    }
  }
  if (has_word(s)) {
    p.kind = Kind::kText;
    p.text = fold(s);
    return p;
  }
  p.expr = MathExpr::parse(s);
  if (!p.expr) return std::nullopt;
  return p;
}

Outcome compare(const Parsed& a, const Parsed& b);

// Element-wise, in order.
Outcome compare_in_order(const std::vector<Parsed>& a, const std::vector<Parsed>& b) {
  if (a.size() != b.size()) return {Verdict::kDifferent, AnswerDecision::kStructure};
  bool undecided = false;
  for (size_t i = 0; i < a.size(); ++i) {
    const Outcome o = compare(a[i], b[i]);
    if (o.verdict == Verdict::kDifferent) return {Verdict::kDifferent, AnswerDecision::kStructure};
    undecided = undecided || o.verdict == Verdict::kUndecided;
  }
  return {undecided ? Verdict::kUndecided : Verdict::kEqual, AnswerDecision::kStructure};
}

// As multisets: each element of `a` matched to a distinct equal element of `b`.
Outcome compare_unordered(const std::vector<Parsed>& a, const std::vector<Parsed>& b) {
  if (a.size() != b.size()) return {Verdict::kDifferent, AnswerDecision::kStructure};
  std::vector<bool> used(b.size(), false);
  bool undecided = false;
  for (const Parsed& x : a) {
    bool found = false;
    for (size_t j = 0; j < b.size() && !found; ++j) {
      if (used[j]) continue;
      const Verdict v = compare(x, b[j]).verdict;
      found = v == Verdict::kEqual;
      used[j] = found;
      undecided = undecided || v == Verdict::kUndecided;
    }
    if (!found) return {undecided ? Verdict::kUndecided : Verdict::kDifferent, AnswerDecision::kStructure};
  }
  return {Verdict::kEqual, AnswerDecision::kStructure};
}

Outcome from_expressions(const MathExpr& a, const MathExpr& b) {
  const ExprComparison c = compare_expressions(a, b);
  const AnswerDecision decision = c.decision == ExprDecision::kRational  ? AnswerDecision::kRational
                                  : c.decision == ExprDecision::kNumeric ? AnswerDecision::kNumeric
                                                                         : AnswerDecision::kSymbolic;
  if (!c.decided) return {Verdict::kUndecided, decision};
  return {c.equal ? Verdict::kEqual : Verdict::kDifferent, decision};
}

Outcome compare_equations(const Parsed& a, const Parsed& b) {
  if (!a.name.empty() && a.name == b.name) return compare(a.items[0], b.items[0]);
  if (!a.expr || !b.expr) return {Verdict::kDifferent, AnswerDecision::kStructure};
  const Outcome same = from_expressions(*a.expr, *b.expr);
  if (same.verdict == Verdict::kEqual) return same;
  const Outcome flipped = from_expressions(*a.expr, MathExpr::negation(*b.expr));
  if (flipped.verdict == Verdict::kEqual) return flipped;
  if (same.verdict == Verdict::kUndecided || flipped.verdict == Verdict::kUndecided) return {};
  return same;
}

bool is_vector(const Parsed& p) { return p.kind == Kind::kMatrix && (p.columns == 1 || p.columns == p.items.size()); }

Outcome compare(const Parsed& a, const Parsed& b) {
  // A named value ("x = 3") against a plain one: the value decides.
  if (a.kind == Kind::kEquation && b.kind != Kind::kEquation && !a.name.empty()) return compare(a.items[0], b);
  if (b.kind == Kind::kEquation && a.kind != Kind::kEquation && !b.name.empty()) return compare(a, b.items[0]);
  if (a.kind == Kind::kText || b.kind == Kind::kText) {
    // Against text, a number proves nothing (the text may be a unit or wording not understood): no verdict.
    if (a.kind != b.kind) return {};
    return {a.text == b.text ? Verdict::kEqual : Verdict::kDifferent, AnswerDecision::kText};
  }
  const bool a_bare = a.kind == Kind::kSequence && a.open == 0, b_bare = b.kind == Kind::kSequence && b.open == 0;
  if (a.kind != b.kind) {
    if ((a.kind == Kind::kSet && (b_bare || b.kind == Kind::kSequence)) ||
        (b.kind == Kind::kSet && (a_bare || a.kind == Kind::kSequence)))
      return compare_unordered(a.items, b.items);
    if ((is_vector(a) && b.kind == Kind::kSequence) || (is_vector(b) && a.kind == Kind::kSequence))
      return compare_in_order(a.items, b.items);
    if (a.kind == Kind::kBaseNumber || b.kind == Kind::kBaseNumber) {
      const Parsed& other = a.kind == Kind::kBaseNumber ? b : a;
      const std::string& digits = a.kind == Kind::kBaseNumber ? a.text : b.text;
      if (other.kind == Kind::kExpression && std::all_of(other.text.begin(), other.text.end(), is_digit))
        return {other.text == digits ? Verdict::kEqual : Verdict::kDifferent, AnswerDecision::kStructure};
    }
    return {Verdict::kDifferent,
            a.kind == Kind::kChoice || b.kind == Kind::kChoice ? AnswerDecision::kChoice : AnswerDecision::kStructure};
  }
  switch (a.kind) {
    case Kind::kChoice:
      return {a.text == b.text ? Verdict::kEqual : Verdict::kDifferent, AnswerDecision::kChoice};
    case Kind::kBaseNumber:
      return {a.text == b.text && a.name == b.name ? Verdict::kEqual : Verdict::kDifferent, AnswerDecision::kStructure};
    case Kind::kEquation:
      return compare_equations(a, b);
    case Kind::kSequence: {
      if (a_bare && b_bare) return compare_unordered(a.items, b.items);
      // A bare list is a tuple: it matches parentheses, not brackets.
      const char a_open = a_bare ? '(' : a.open, a_close = a_bare ? ')' : a.close;
      const char b_open = b_bare ? '(' : b.open, b_close = b_bare ? ')' : b.close;
      if (a_open != b_open || a_close != b_close) return {Verdict::kDifferent, AnswerDecision::kStructure};
      return compare_in_order(a.items, b.items);
    }
    case Kind::kSet:
    case Kind::kUnion:
      return compare_unordered(a.items, b.items);
    case Kind::kMatrix:
      if (a.columns != b.columns) return {Verdict::kDifferent, AnswerDecision::kStructure};
      return compare_in_order(a.items, b.items);
    default:
      return from_expressions(*a.expr, *b.expr);
  }
}

}  // namespace

const char* decision_name(AnswerDecision decision) {
  switch (decision) {
    case AnswerDecision::kRational:
      return "rational";
    case AnswerDecision::kNumeric:
      return "numeric";
    case AnswerDecision::kSymbolic:
      return "symbolic";
    case AnswerDecision::kStructure:
      return "structure";
    case AnswerDecision::kChoice:
      return "choice";
    case AnswerDecision::kText:
      return "text";
    default:
      return "string";
  }
}

AnswerComparison compare_answers(const std::string& predicted, const std::string& reference) {
  // Far longer than any answer (a whole completion given by mistake, or garbage): not worth normalising.
  if (predicted.size() > kMaxAnswerLength || reference.size() > kMaxAnswerLength)
    return {!trim(predicted).empty() && trim(predicted) == trim(reference), AnswerDecision::kString};
  const std::string p = normalize_answer(predicted), r = normalize_answer(reference);
  const auto parsed_p = parse(p, 0, true), parsed_r = parse(r, 0, true);
  if (parsed_p && parsed_r) {
    const Outcome o = compare(*parsed_p, *parsed_r);
    if (o.verdict != Verdict::kUndecided) return {o.verdict == Verdict::kEqual, o.decision};
  }
  return {!p.empty() && fold(p) == fold(r), AnswerDecision::kString};
}

}  // namespace stepwise
