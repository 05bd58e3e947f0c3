// Answer extraction from completions and exact checking.
#include <gtest/gtest.h>

#include "eval/answer.h"

namespace stepwise {
namespace {

TEST(Answer, BoxedAfterTheReasoning) {
  EXPECT_EQ(extract_answer("<think>\n7*8=56\n\\boxed{3}\n</think>\n\n\\boxed{60}").value_or("-"), "60");
  EXPECT_EQ(extract_answer("so \\boxed{\\frac{1}{2}} is it").value_or("-"), "\\frac{1}{2}");
  EXPECT_EQ(extract_answer("first \\boxed{1}, finally \\boxed{2}").value_or("-"), "2");
  EXPECT_FALSE(extract_answer("\\boxed{12").has_value());             // cut off
  EXPECT_FALSE(extract_answer("<think>\\boxed{5}</think> no box").has_value());  // only inside the reasoning
}

TEST(Answer, HashesAndAnswerIsWithoutABox) {
  EXPECT_EQ(extract_answer("Natalia sold 72 clips.\n#### 72").value_or("-"), "72");
  EXPECT_EQ(extract_answer("#### 1,234").value_or("-"), "1,234");
  EXPECT_EQ(extract_answer("So the answer is -5.5.").value_or("-"), "-5.5");
  EXPECT_FALSE(extract_answer("I think it's 42").has_value());
}

TEST(Answer, NormalisedExactMatch) {
  EXPECT_TRUE(answers_match("1,234", "1234"));
  EXPECT_TRUE(answers_match(" $18 ", "18"));
  EXPECT_TRUE(answers_match("18.0", "18"));
  EXPECT_TRUE(answers_match("18.", "18"));
  EXPECT_TRUE(answers_match("\\frac{1}{2}", "\\frac{1}{ 2}"));
  EXPECT_FALSE(answers_match("17", "18"));
  EXPECT_FALSE(answers_match("1,23", "123"));  // not a thousands separator
  EXPECT_FALSE(answers_match("", "0"));
}

}  // namespace
}  // namespace stepwise
