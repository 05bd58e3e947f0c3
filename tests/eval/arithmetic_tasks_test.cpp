// The demo's word problems: deterministic from the seed, the worked steps chain correctly, each +/- step stays a
// one-digit fact, and the answer is the value of the problem's expression (evaluated here independently).
#include <gtest/gtest.h>

#include <set>

#include "eval/arithmetic_tasks.h"

namespace stepwise {
namespace {

// "(7-3+2)*6": the changes left to right inside the parentheses, then the product.
int64_t evaluate(const std::string& expr) {
  size_t at = 1, len = 0;
  int64_t v = std::stoll(expr.substr(at), &len);
  at += len;
  while (expr[at] != ')') {
    const char op = expr[at];
    const int64_t x = std::stoll(expr.substr(at + 1), &len);
    v = op == '+' ? v + x : v - x;
    at += 1 + len;
  }
  return v * std::stoll(expr.substr(at + 2));
}

TEST(ArithmeticTasks, DeterministicFromTheSeed) {
  ArithmeticTaskGenerator a(5, {}), b(5, {}), c(6, {});
  bool differs = false;
  for (int i = 0; i < 50; ++i) {
    const ArithmeticProblem pa = a.next(), pb = b.next(), pc = c.next();
    EXPECT_EQ(pa.question, pb.question);
    EXPECT_EQ(pa.worked_steps(), pb.worked_steps());
    differs |= pa.question != pc.question;
  }
  EXPECT_TRUE(differs);
}

TEST(ArithmeticTasks, StepsChainToTheAnswer) {
  ArithmeticTaskOptions o;
  o.min_steps = 2;
  o.max_steps = 4;
  ArithmeticTaskGenerator gen(9, o);
  std::set<size_t> step_counts;
  for (int i = 0; i < 500; ++i) {
    const ArithmeticProblem p = gen.next();
    step_counts.insert(p.steps.size());
    EXPECT_EQ(p.answer, evaluate(p.expression)) << p.expression;
    EXPECT_GE(p.answer, 2) << p.expression;
    int64_t carried = -1;
    for (const std::string& step : p.steps) {  // "x op y=z" with x the previous result
      const size_t eq = step.find('=');
      const std::string lhs = step.substr(0, eq);
      const size_t op = lhs.find_first_of("*+-");
      const int64_t x = std::stoll(lhs.substr(0, op)), y = std::stoll(lhs.substr(op + 1));
      const int64_t z = std::stoll(step.substr(eq + 1));
      EXPECT_EQ(z, lhs[op] == '*' ? x * y : lhs[op] == '+' ? x + y : x - y) << step;
      if (lhs[op] != '*') {
        EXPECT_TRUE(x >= 1 && x <= 9 && y >= 1 && z >= 1 && z <= 9) << step;
      }
      if (carried >= 0) {
        EXPECT_EQ(x, carried) << p.worked_steps();
      }
      carried = z;
      EXPECT_NE(p.question.find(std::to_string(y)), std::string::npos) << p.question;
    }
    EXPECT_EQ(carried, p.answer);
    EXPECT_NE(p.question.find("How many"), std::string::npos);
  }
  EXPECT_EQ(step_counts, (std::set<size_t>{2, 3, 4}));
}

}  // namespace
}  // namespace stepwise
