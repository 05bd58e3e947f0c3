// Recursive-descent parser for answer math (LaTeX and plain), and its evaluation to exact rationals or doubles.
#include "eval/math_expr.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

#include "eval/rational.h"

namespace stepwise {

enum class MathOp {
  kNumber,
  kConstant,
  kVariable,
  kNeg,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kRoot,
  kFactorial,
  kBinom,
  kFunction
};

using NodePtr = std::shared_ptr<const MathNode>;

struct MathNode {
  MathOp op = MathOp::kNumber;
  std::optional<Rational> exact;  // kNumber: the literal, when it fits
  double approx = 0;              // kNumber, kConstant: its double value
  std::string name;               // kVariable, kFunction
  std::vector<NodePtr> kids;
};

namespace {

// Nesting beyond this is not an answer but garbage (and would risk the stack); it does not parse.
constexpr int kMaxDepth = 64;

NodePtr make(MathOp op, std::vector<NodePtr> kids, std::string name = {}) {
  auto node = std::make_shared<MathNode>();
  node->op = op;
  node->kids = std::move(kids);
  node->name = std::move(name);
  return node;
}

NodePtr constant(double value) {
  auto node = std::make_shared<MathNode>();
  node->op = MathOp::kConstant;
  node->approx = value;
  return node;
}

bool is_function(const std::string& name) {
  static const std::set<std::string> kFunctions = {"sin",    "cos",  "tan",  "cot",  "sec", "csc", "arcsin", "arccos",
                                                   "arctan", "sinh", "cosh", "tanh", "ln",  "log", "exp",    "sqrt"};
  return kFunctions.count(name) > 0;
}

bool is_greek(const std::string& name) {
  static const std::set<std::string> kGreek = {"alpha",  "beta",  "gamma",    "delta", "epsilon", "varepsilon", "zeta",
                                               "eta",    "theta", "vartheta", "iota",  "kappa",   "lambda",     "mu",
                                               "nu",     "xi",    "rho",      "sigma", "tau",     "upsilon",    "phi",
                                               "varphi", "chi",   "psi",      "omega", "Gamma",   "Delta",      "Theta",
                                               "Lambda", "Xi",    "Sigma",    "Phi",   "Psi",     "Omega"};
  return kGreek.count(name) > 0;
}

// The names a plain (backslash-free) letter run may start with; anything else is a one-letter variable.
const char* const kPlainNames[] = {"sqrt", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "sin", "cos",
                                   "tan",  "cot",    "sec",    "csc",    "log",  "ln",   "exp",  "pi"};

bool is_integer_literal(const MathNode& node) {
  return node.op == MathOp::kNumber && node.exact && node.exact->den == 1 && node.exact->num >= 0;
}

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  NodePtr parse_all() {
    NodePtr node = expr();
    skip_spaces();
    return node && pos_ == s_.size() ? node : nullptr;
  }

  std::set<std::string> variables;

 private:
  char peek(size_t ahead = 0) const { return pos_ + ahead < s_.size() ? s_[pos_ + ahead] : '\0'; }
  static bool alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
  static bool digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
  void skip_spaces() {
    while (std::isspace(static_cast<unsigned char>(peek()))) ++pos_;
  }
  bool eat(char c) {
    skip_spaces();
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  // The name of the command at pos_ (after the backslash), without consuming it.
  std::string command_at() const {
    size_t e = pos_ + 1;
    while (e < s_.size() && alpha(s_[e])) ++e;
    if (e > pos_ + 1) return s_.substr(pos_ + 1, e - pos_ - 1);
    return pos_ + 1 < s_.size() ? std::string(1, s_[pos_ + 1]) : "";  // \{, \, ... or a lone trailing backslash
  }
  std::string take_command() {
    std::string name = command_at();
    pos_ += 1 + name.size();
    return name;
  }

  // Recursion is bounded by counting nested calls of the rules that recurse.
  struct Depth {
    explicit Depth(int& d) : depth(++d) {}
    ~Depth() { --depth; }
    int& depth;
  };
  bool too_deep() const { return depth_ > kMaxDepth; }

  NodePtr expr() {
    NodePtr node = term();
    while (node) {
      skip_spaces();
      const char c = peek();
      if (c != '+' && c != '-') break;
      ++pos_;
      NodePtr rhs = term();
      node = rhs ? make(c == '+' ? MathOp::kAdd : MathOp::kSub, {node, rhs}) : nullptr;
    }
    return node;
  }

  // Whether what follows starts a factor that multiplies implicitly (2x, 3\pi, 2\sqrt2, (a)(b)).
  bool starts_implicit_factor() {
    skip_spaces();
    const char c = peek();
    if (digit(c) || alpha(c) || c == '(' || c == '[' || c == '{') return true;
    if (c != '\\') return false;
    const std::string name = command_at();
    return name == "frac" || name == "dfrac" || name == "tfrac" || name == "sqrt" || name == "pi" || name == "binom" ||
           name == "dbinom" || name == "tbinom" || name == "mathrm" || name == "mathbf" || name == "mathit" ||
           is_function(name) || is_greek(name);
  }

  NodePtr term() {
    NodePtr node = unary();
    while (node) {
      skip_spaces();
      MathOp op;
      if (peek() == '*' || peek() == '/') {
        op = peek() == '*' ? MathOp::kMul : MathOp::kDiv;
        ++pos_;
      } else if (peek() == '\\' && (command_at() == "cdot" || command_at() == "times" || command_at() == "ast" ||
                                    command_at() == "div")) {
        op = take_command() == "div" ? MathOp::kDiv : MathOp::kMul;
      } else if (starts_implicit_factor()) {
        const bool after_integer = is_integer_literal(*node) && peek() == '\\' && command_at() == "frac";
        NodePtr rhs = power();  // no sign on an implicit factor: "2 -3" is a difference
        // A mixed number, as MATH writes them: 1\frac{4}{5} is 9/5 (an integer, then a fraction of integers).
        const bool mixed = after_integer && rhs && rhs->op == MathOp::kDiv && is_integer_literal(*rhs->kids[0]) &&
                           is_integer_literal(*rhs->kids[1]);
        node = rhs ? make(mixed ? MathOp::kAdd : MathOp::kMul, {node, rhs}) : nullptr;
        continue;
      } else {
        break;
      }
      NodePtr rhs = unary();
      node = rhs ? make(op, {node, rhs}) : nullptr;
    }
    return node;
  }

  NodePtr unary() {
    Depth guard(depth_);
    if (too_deep()) return nullptr;
    skip_spaces();
    if (peek() == '-' || peek() == '+') {
      const bool negative = s_[pos_++] == '-';
      NodePtr operand = unary();
      return operand && negative ? make(MathOp::kNeg, {operand}) : operand;
    }
    return power();
  }

  NodePtr power() {
    NodePtr base = postfix(primary());
    skip_spaces();
    if (!base) return nullptr;
    if (peek() == '*' && peek(1) == '*') {  // plain "x**2": the exponent is a full unary, as in Python
      pos_ += 2;
      NodePtr exponent = unary();
      return exponent ? make(MathOp::kPow, {base, exponent}) : nullptr;
    }
    if (peek() != '^') return base;
    ++pos_;
    NodePtr exponent = latex_exponent();
    return exponent ? make(MathOp::kPow, {base, exponent}) : nullptr;
  }

  NodePtr postfix(NodePtr node) {
    while (node && eat('!')) node = make(MathOp::kFactorial, {node});
    return node;
  }

  // After ^: {group}, (group), a signed digit run (2^10 is 1024, as the book reads it), a letter or a command.
  NodePtr latex_exponent() {
    Depth guard(depth_);
    if (too_deep()) return nullptr;
    skip_spaces();
    if (peek() == '-' || peek() == '+') {
      const bool negative = s_[pos_++] == '-';
      NodePtr operand = latex_exponent();
      return operand && negative ? make(MathOp::kNeg, {operand}) : operand;
    }
    if (peek() == '{' || peek() == '(') return primary();
    if (digit(peek())) return number();
    return latex_arg();
  }

  // A LaTeX macro argument: {group}, or a single digit, letter or command (\frac12, \sqrt2, \frac\pi2).
  NodePtr latex_arg() {
    skip_spaces();
    const char c = peek();
    if (c == '{') return primary();
    if (digit(c)) {
      ++pos_;
      return number_node(Rational{c - '0', 1});
    }
    if (alpha(c)) return letter();
    if (c == '\\') return primary();
    return nullptr;
  }

  NodePtr group(char close) {
    ++pos_;
    NodePtr node = expr();
    return node && eat(close) ? node : nullptr;
  }

  NodePtr primary() {
    Depth guard(depth_);
    if (too_deep()) return nullptr;
    skip_spaces();
    const char c = peek();
    if (digit(c) || (c == '.' && digit(peek(1)))) return number();
    if (c == '(') return group(')');
    if (c == '[') return group(']');
    if (c == '{') return group('}');
    if (c == '|') {
      NodePtr inner = group('|');
      return inner ? make(MathOp::kFunction, {inner}, "abs") : nullptr;
    }
    if (alpha(c)) return plain_name();
    if (c == '\\') return command();
    return nullptr;
  }

  NodePtr number_node(Rational value) {
    auto node = std::make_shared<MathNode>();
    node->exact = value;
    node->approx = to_double(value);
    return node;
  }

  // Digits with an optional fraction and exponent (1.5, .25, 3e5): exact when they fit, else a double.
  NodePtr number() {
    const size_t begin = pos_;
    while (digit(peek())) ++pos_;
    if (peek() == '.' && digit(peek(1))) {
      ++pos_;
      while (digit(peek())) ++pos_;
    }
    if ((peek() == 'e' || peek() == 'E') &&
        (digit(peek(1)) || ((peek(1) == '-' || peek(1) == '+') && digit(peek(2))))) {
      pos_ += 2;
      while (digit(peek())) ++pos_;
    }
    const std::string literal = s_.substr(begin, pos_ - begin);
    auto node = std::make_shared<MathNode>();
    node->exact = parse_decimal(literal);
    node->approx = std::strtod(literal.c_str(), nullptr);
    return node;
  }

  NodePtr letter() {
    std::string name(1, s_[pos_++]);
    if (name == "e") return constant(std::exp(1.0));
    if (peek() == '_') {  // x_1, a_{n}
      ++pos_;
      if (peek() == '{') {
        const size_t close = s_.find('}', pos_);
        if (close == std::string::npos) return nullptr;
        name += "_" + s_.substr(pos_ + 1, close - pos_ - 1);
        pos_ = close + 1;
      } else if (alpha(peek()) || digit(peek())) {
        name += "_" + std::string(1, s_[pos_++]);
      } else {
        return nullptr;
      }
    }
    variables.insert(name);
    auto node = make(MathOp::kVariable, {}, name);
    return node;
  }

  NodePtr plain_name() {
    for (const char* name : kPlainNames) {
      const size_t n = std::char_traits<char>::length(name);
      if (s_.compare(pos_, n, name) != 0) continue;
      pos_ += n;
      return std::string(name) == "pi" ? constant(M_PI) : function(name);
    }
    return letter();
  }

  // After a function's name: an optional base (\log_2), an optional power (\sin^2 x), then the argument.
  NodePtr function(const std::string& name) {
    NodePtr base, exponent;
    if (eat('_') && !(base = latex_arg())) return nullptr;
    if (eat('^') && !(exponent = latex_exponent())) return nullptr;
    skip_spaces();
    NodePtr argument = peek() == '(' ? group(')') : power();
    if (!argument) return nullptr;
    NodePtr node = make(MathOp::kFunction, {argument}, name);
    if (base) node = make(MathOp::kDiv, {node, make(MathOp::kFunction, {base}, "log")});
    return exponent ? make(MathOp::kPow, {node, exponent}) : node;
  }

  NodePtr command() {
    const std::string name = take_command();
    if (name == "frac" || name == "dfrac" || name == "tfrac") {
      NodePtr num = latex_arg(), den = num ? latex_arg() : nullptr;
      return den ? make(MathOp::kDiv, {num, den}) : nullptr;
    }
    if (name == "binom" || name == "dbinom" || name == "tbinom") {
      NodePtr n = latex_arg(), k = n ? latex_arg() : nullptr;
      return k ? make(MathOp::kBinom, {n, k}) : nullptr;
    }
    if (name == "sqrt") {
      NodePtr index = nullptr;
      skip_spaces();
      if (peek() == '[' && !(index = group(']'))) return nullptr;
      NodePtr radicand = latex_arg();
      if (!radicand) return nullptr;
      return make(MathOp::kRoot, {radicand, index ? index : number_node(Rational{2, 1})});
    }
    if (name == "pi") return constant(M_PI);
    if (name == "infty") return constant(std::numeric_limits<double>::infinity());
    if (name == "mathrm" || name == "mathbf" || name == "mathit") return latex_arg();
    if (is_function(name)) return function(name);
    if (is_greek(name)) {
      variables.insert("\\" + name);
      return make(MathOp::kVariable, {}, "\\" + name);
    }
    return nullptr;
  }

  const std::string& s_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// A value met while evaluating: exact when every step so far was rational.
struct Value {
  bool ok = false;
  std::optional<Rational> exact;
  double x = 0;
  double scale = 0;  // the largest magnitude met on the way: what the rounding error is relative to
};

Value undefined() { return Value{}; }

Value of_double(double x, double scale) {
  if (std::isnan(x)) return undefined();
  return Value{true, std::nullopt, x, std::max(std::fabs(x), scale)};
}

Value of_rational(const Rational& q, double scale) {
  const double x = to_double(q);
  return Value{true, q, x, std::max(std::fabs(x), scale)};
}

// Beyond these, exact powers, roots and factorials are not attempted (2^99999 must neither hang nor allocate).
constexpr int64_t kMaxExactExponent = 4096;
constexpr int64_t kMaxRootIndex = 64;
constexpr int64_t kMaxFactorial = 170;  // 171! overflows a double

Value power(const Value& base, const Value& exponent) {
  const double scale = std::max(base.scale, exponent.scale);
  if (base.exact && exponent.exact) {
    const Rational& e = *exponent.exact;
    if (e.den <= kMaxRootIndex && e.num >= -kMaxExactExponent && e.num <= kMaxExactExponent) {
      if (base.exact->num == 0 && e.num < 0) return undefined();
      if (auto root = rational_root(*base.exact, static_cast<int>(e.den)))
        if (auto q = rational_power(*root, static_cast<int>(e.num))) return of_rational(*q, scale);
    }
  }
  double x = std::pow(base.x, exponent.x);
  // A real odd root of a negative base ((-8)^(1/3) = -2), where pow has no real answer.
  if (std::isnan(x) && base.x < 0 && exponent.exact && exponent.exact->den % 2 == 1)
    x = (exponent.exact->num % 2 == 0 ? 1 : -1) * std::pow(-base.x, exponent.x);
  return std::isfinite(x) ? of_double(x, scale) : undefined();
}

Value apply_function(const std::string& name, const Value& a) {
  static const std::map<std::string, double (*)(double)> kDouble = {
      {"sin", std::sin},     {"cos", std::cos},   {"tan", std::tan},   {"arcsin", std::asin}, {"arccos", std::acos},
      {"arctan", std::atan}, {"sinh", std::sinh}, {"cosh", std::cosh}, {"tanh", std::tanh},   {"ln", std::log},
      {"log", std::log},     {"exp", std::exp},   {"abs", std::fabs}};
  if (name == "sqrt") return a.x < 0 ? undefined() : power(a, of_rational(Rational{1, 2}, 0));
  if (name == "abs" && a.exact)
    return of_rational(Rational{a.exact->num < 0 ? -a.exact->num : a.exact->num, a.exact->den}, a.scale);
  if ((name == "ln" || name == "log") && a.x <= 0) return undefined();
  if (name == "cot" || name == "sec" || name == "csc") {
    const double d = name == "cot" ? std::tan(a.x) : name == "sec" ? std::cos(a.x) : std::sin(a.x);
    return d == 0 ? undefined() : of_double(1 / d, a.scale);
  }
  const auto f = kDouble.find(name);
  if (f == kDouble.end()) return undefined();
  const double x = f->second(a.x);
  return std::isfinite(x) ? of_double(x, a.scale) : undefined();
}

Value factorial(const Value& a) {
  if (!a.exact || a.exact->den != 1 || a.exact->num < 0 || a.exact->num > kMaxFactorial) return undefined();
  std::optional<Rational> exact = Rational{1, 1};
  double x = 1;
  for (int64_t k = 2; k <= static_cast<int64_t>(a.exact->num); ++k) {
    x *= static_cast<double>(k);
    if (exact) exact = multiply(*exact, Rational{k, 1});
  }
  return exact ? of_rational(*exact, x) : of_double(x, x);
}

Value binomial(const Value& n, const Value& k) {
  if (!n.exact || !k.exact || n.exact->den != 1 || k.exact->den != 1) return undefined();
  const auto nn = n.exact->num, kk = k.exact->num;
  if (kk < 0 || nn < kk || kk > kMaxExactExponent) return undefined();
  std::optional<Rational> exact = Rational{1, 1};
  double x = 1;
  for (Int128 i = 1; i <= kk; ++i) {  // C(n, i) = C(n, i-1) * (n - i + 1) / i, an integer at every step
    x = x * static_cast<double>(nn - i + 1) / static_cast<double>(i);
    if (exact) exact = multiply(*exact, Rational{nn - i + 1, i});
  }
  if (!std::isfinite(x)) return undefined();
  return exact ? of_rational(*exact, x) : of_double(x, x);
}

Value arithmetic(MathOp op, const Value& a, const Value& b) {
  if (!std::isfinite(a.x) || !std::isfinite(b.x)) return undefined();  // infinity is an endpoint, not a number
  const double scale = std::max(a.scale, b.scale);
  if (op == MathOp::kDiv && b.x == 0) return undefined();
  if (a.exact && b.exact) {
    std::optional<Rational> q = op == MathOp::kAdd   ? add(*a.exact, *b.exact)
                                : op == MathOp::kSub ? add(*a.exact, negate(*b.exact))
                                : op == MathOp::kMul ? multiply(*a.exact, *b.exact)
                                                     : divide(*a.exact, *b.exact);
    if (q) return of_rational(*q, scale);
  }
  const double x = op == MathOp::kAdd   ? a.x + b.x
                   : op == MathOp::kSub ? a.x - b.x
                   : op == MathOp::kMul ? a.x * b.x
                                        : a.x / b.x;
  return std::isfinite(x) ? of_double(x, scale) : undefined();
}

Value evaluate(const MathNode& node, const std::map<std::string, double>& assignment) {
  std::vector<Value> kids;
  for (const NodePtr& kid : node.kids) {
    kids.push_back(evaluate(*kid, assignment));
    if (!kids.back().ok) return undefined();
  }
  switch (node.op) {
    case MathOp::kNumber:
      return node.exact ? of_rational(*node.exact, 0) : of_double(node.approx, 0);
    case MathOp::kConstant:
      return Value{true, std::nullopt, node.approx, std::isfinite(node.approx) ? std::fabs(node.approx) : 0};
    case MathOp::kVariable: {
      const auto it = assignment.find(node.name);
      return it == assignment.end() ? undefined() : of_double(it->second, 0);
    }
    case MathOp::kNeg:
      return kids[0].exact ? of_rational(negate(*kids[0].exact), kids[0].scale) : of_double(-kids[0].x, kids[0].scale);
    case MathOp::kPow:
      return std::isfinite(kids[0].x) && std::isfinite(kids[1].x) ? power(kids[0], kids[1]) : undefined();
    case MathOp::kRoot:
      if (!kids[1].exact || kids[1].exact->den != 1 || kids[1].exact->num < 2 || kids[1].exact->num > kMaxRootIndex)
        return undefined();
      if (kids[0].x < 0 && kids[1].exact->num % 2 == 0) return undefined();
      return power(kids[0], of_rational(Rational{1, kids[1].exact->num}, 0));
    case MathOp::kFactorial:
      return factorial(kids[0]);
    case MathOp::kBinom:
      return binomial(kids[0], kids[1]);
    case MathOp::kFunction:
      return std::isfinite(kids[0].x) ? apply_function(node.name, kids[0]) : undefined();
    default:
      return arithmetic(node.op, kids[0], kids[1]);
  }
}

// Tolerance for values that are not both exact. Each double operation rounds with a relative error of at most
// 2^-53 ~ 1.1e-16 of the magnitudes involved, all bounded by `scale`; an answer of at most 2000 characters has
// at most ~1000 operations, and libm functions add about an ulp each, so two evaluations of equal expressions
// differ by under ~1e-13 * scale (pow amplifies a relative error by the exponent: a further factor of ~10 for
// the exponents in answers). 1e-10 leaves a margin of ~100 above that while still telling apart a truncated
// decimal from an irrational (\sqrt2 vs 1.41421356: relative 2e-9), as the book's exact sympy check would.
constexpr double kRelativeTolerance = 1e-10;

bool close(const Value& a, const Value& b) {
  if (std::isinf(a.x) || std::isinf(b.x)) return a.x == b.x;
  return std::fabs(a.x - b.x) <= kRelativeTolerance * std::max(a.scale, b.scale);
}

// Deterministic points for variables: splitmix64 from a fixed seed, so the verdict is the same on every machine.
double random_coordinate(uint64_t index) {
  uint64_t z = 0x5eed5eedULL + index * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  const double unit = static_cast<double>(z >> 11) * 0x1.0p-53;  // [0, 1), exact on any IEEE machine
  // Magnitudes in [0.5, 2.5): away from 0 and 1, where many distinct expressions coincide; both signs, so that
  // |x| and x differ (points where a side is undefined, such as sqrt of a negative, are skipped).
  const double magnitude = 0.5 + 2.0 * unit;
  return (z & 1) ? -magnitude : magnitude;
}

constexpr int kRandomPoints = 12;
constexpr int kMinValidPoints = 4;

}  // namespace

std::optional<MathExpr> MathExpr::parse(const std::string& text) {
  if (text.empty() || text.size() > kMaxExpressionLength) return std::nullopt;
  Parser parser(text);
  NodePtr root = parser.parse_all();
  if (!root) return std::nullopt;
  return MathExpr(root, parser.variables);
}

MathExpr MathExpr::sum(const MathExpr& a, const MathExpr& b) {
  std::set<std::string> vars = a.variables_;
  vars.insert(b.variables_.begin(), b.variables_.end());
  return MathExpr(make(MathOp::kAdd, {a.root_, b.root_}), vars);
}

MathExpr MathExpr::difference(const MathExpr& a, const MathExpr& b) {
  std::set<std::string> vars = a.variables_;
  vars.insert(b.variables_.begin(), b.variables_.end());
  return MathExpr(make(MathOp::kSub, {a.root_, b.root_}), vars);
}

MathExpr MathExpr::negation(const MathExpr& a) { return MathExpr(make(MathOp::kNeg, {a.root_}), a.variables_); }

ExprComparison compare_expressions(const MathExpr& a, const MathExpr& b) {
  std::set<std::string> vars = a.variables();
  vars.insert(b.variables().begin(), b.variables().end());
  if (vars.empty()) {
    const Value va = evaluate(a.root(), {}), vb = evaluate(b.root(), {});
    if (!va.ok || !vb.ok) return {};
    if (va.exact && vb.exact) return {true, *va.exact == *vb.exact, ExprDecision::kRational};
    return {true, close(va, vb), ExprDecision::kNumeric};
  }
  int valid = 0;
  uint64_t draw = 0;
  for (int point = 0; point < kRandomPoints; ++point) {
    std::map<std::string, double> assignment;
    for (const std::string& var : vars) assignment[var] = random_coordinate(draw++);
    const Value va = evaluate(a.root(), assignment), vb = evaluate(b.root(), assignment);
    if (!va.ok || !vb.ok) continue;
    if (!close(va, vb)) return {true, false, ExprDecision::kSymbolic};
    ++valid;
  }
  if (valid < kMinValidPoints) return {};
  return {true, true, ExprDecision::kSymbolic};
}

}  // namespace stepwise
