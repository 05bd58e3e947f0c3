// Answer extraction from completions (eval/answer.h), and answers_match on the demo's kind of answers.
#include <gtest/gtest.h>

#include "eval/answer.h"

namespace stepwise {
namespace {

TEST(Answer, BoxedAfterTheReasoning) {
  EXPECT_EQ(extract_answer("<think>\n7*8=56\n\\boxed{3}\n</think>\n\n\\boxed{60}").value_or("-"), "60");
  EXPECT_EQ(extract_answer("so \\boxed{\\frac{1}{2}} is it").value_or("-"), "\\frac{1}{2}");
  EXPECT_EQ(extract_answer("first \\boxed{1}, finally \\boxed{2}").value_or("-"), "2");
  EXPECT_EQ(extract_answer("\\boxed{\\begin{pmatrix} 1 \\\\ {2} \\end{pmatrix}}").value_or("-"),
            "\\begin{pmatrix} 1 \\\\ {2} \\end{pmatrix}");                       // nested braces
  EXPECT_EQ(extract_answer("\\boxed {$ 7 $}").value_or("-"), "7");               // space, $ stripped as the book
  EXPECT_EQ(extract_answer("\\fbox{12}").value_or("-"), "12");                   // \fbox too
  EXPECT_EQ(extract_answer("\\boxed{1} then \\fbox{2}").value_or("-"), "2");     // the last of either
  EXPECT_FALSE(extract_answer("<think>\\boxed{5}</think> no box").has_value());  // only inside the reasoning
  EXPECT_EQ(extract_answer("<think>the answer is 5</think>Final: 6").value_or("-"), "6");
}

// Changed from the first grader: a cut-off box now falls back to the last number, as the book's
// extract_final_candidate does (its get_last_boxed fails, then RE_NUMBER takes the last number).
TEST(Answer, CutOffBoxFallsBackToTheLastNumber) {
  EXPECT_EQ(extract_answer("\\boxed{12").value_or("-"), "12");
  EXPECT_EQ(extract_answer("so \\boxed{3} and later \\boxed{\\frac{1}{").value_or("-"), "1");  // not the earlier box
  EXPECT_FALSE(extract_answer("\\boxed{x", AnswerFallback::kNone).has_value());
  EXPECT_FALSE(extract_answer("\\boxed 5 without braces", AnswerFallback::kNone).has_value());  // as the book
}

TEST(Answer, HashesAndAnswerIsWithoutABox) {
  EXPECT_EQ(extract_answer("Natalia sold 72 clips.\n#### 72").value_or("-"), "72");
  EXPECT_EQ(extract_answer("#### 1,234").value_or("-"), "1,234");
  EXPECT_EQ(extract_answer("#### 5.\n").value_or("-"), "5");
  EXPECT_EQ(extract_answer("So the answer is -5.5.").value_or("-"), "-5.5");
  EXPECT_EQ(extract_answer("The answer is $\\frac{3}{4}$, since 1 - 1/4.").value_or("-"), "\\frac{3}{4}");
  EXPECT_EQ(extract_answer("Thus, the Answer is: 17 apples; 3 were eaten").value_or("-"), "17");
  EXPECT_EQ(extract_answer("the answer is 4\n#### 9").value_or("-"), "9");  // #### comes first
  EXPECT_EQ(extract_answer("Hence the answer is \\frac{1}{2}.").value_or("-"), "\\frac{1}{2}");
  EXPECT_EQ(extract_answer("The answer is: **(1, 2]**").value_or("-"), "(1, 2]");
  EXPECT_EQ(extract_answer("the answer is .5").value_or("-"), ".5");
}

// Changed from the first grader: without a box, "####" or "answer is", the last number is the answer (the book's
// final-number fallback); AnswerFallback::kNone restores "no answer", kNumberThenFull is the book's default.
TEST(Answer, FinalNumberFallback) {
  EXPECT_EQ(extract_answer("I think it's 42").value_or("-"), "42");
  EXPECT_EQ(extract_answer("3 apples and 4 pears: 7 fruit").value_or("-"), "7");
  EXPECT_EQ(extract_answer("half is 1/2").value_or("-"), "1/2");
  EXPECT_EQ(extract_answer("about -2.5e3 units").value_or("-"), "-2.5e3");
  EXPECT_FALSE(extract_answer("I think it's 42", AnswerFallback::kNone).has_value());
  EXPECT_FALSE(extract_answer("no digits here").has_value());
  EXPECT_EQ(extract_answer("  Evelyn ", AnswerFallback::kNumberThenFull).value_or("-"), "Evelyn");
  EXPECT_FALSE(extract_answer("").has_value());
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
