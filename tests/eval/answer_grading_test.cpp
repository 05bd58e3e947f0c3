// Grading whole prediction files (eval/answer_grading.h): the book's two MATH-500 answer files, and the errors
// for malformed files.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/status.h"
#include "eval/answer.h"
#include "eval/answer_grading.h"

namespace stepwise {
namespace {

const std::string kData = std::string(STEPWISE_TEST_DATA_DIR) + "/reasoning/";

GradeSummary grade_file(const std::string& path) {
  GradeSummary summary;
  for (const AnswerPrediction& item : read_answer_predictions(path)) {
    const GradedPrediction graded = grade_prediction(item);
    if (item.prediction.find("\\boxed{") != std::string::npos) {
      EXPECT_TRUE(graded.extracted) << item.prediction;
    }
    summary.add(graded);
  }
  return summary;
}

// The counts are pinned: a change in them must be reviewed item by item. The book's ch03 grader (sympy,
// tests/eval/book_grader.py) gives 457 and 277 on these files; every item where the two disagree was judged by
// hand (the open/closed interval and mixed-number cases are ours, the bare \frac919 is the book's).
TEST(AnswerGrading, Math500AnswerFiles) {
  const GradeSummary gpt = grade_file(kData + "math500_gpt_answers.json");
  EXPECT_EQ(gpt.total, 500);
  EXPECT_EQ(gpt.extracted, 500);
  EXPECT_EQ(gpt.correct, 480);
  EXPECT_EQ(gpt.string_match_correct, 354);  // trimmed box content == reference
  const GradeSummary qwen = grade_file(kData + "math500_qwen3_answers.json");
  EXPECT_EQ(qwen.total, 500);
  EXPECT_EQ(qwen.extracted, 500);
  EXPECT_EQ(qwen.correct, 297);
  EXPECT_EQ(qwen.string_match_correct, 225);
  const nlohmann::ordered_json summary = qwen.to_json();
  EXPECT_DOUBLE_EQ(summary["accuracy"].get<double>(), 0.594);
  int64_t decided = 0;
  for (const auto& [kind, count] : summary["decided_by"].items()) decided += count.get<int64_t>();
  EXPECT_EQ(decided, 500);
}

// GSM8K solutions end in "#### N": that is what is extracted, and it matches N written without separators.
TEST(AnswerGrading, Gsm8kFinalLines) {
  std::ifstream in(kData + "gsm8k_test_50.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    const std::string solution = nlohmann::json::parse(line)["answer"].get<std::string>();
    const std::string final_line = solution.substr(solution.rfind("####") + 4);
    const std::optional<std::string> extracted = extract_answer(solution);
    ASSERT_TRUE(extracted) << solution;
    std::string plain;
    for (const char c : final_line)
      if (c != ',' && c != ' ') plain.push_back(c);
    EXPECT_EQ(*extracted, final_line.substr(final_line.find_first_not_of(' ')));
    EXPECT_TRUE(answers_match(*extracted, plain)) << *extracted;
    EXPECT_FALSE(answers_match(*extracted, plain + "1")) << *extracted;
    ++lines;
  }
  EXPECT_EQ(lines, 50);
}

TEST(AnswerGrading, DetailsLine) {
  const AnswerPrediction item{"\\frac{1}{2}", "so \\boxed{0.5}"};
  const nlohmann::ordered_json line = graded_details(3, item, grade_prediction(item));
  EXPECT_EQ(line.dump(), R"({"index":3,"answer":"\\frac{1}{2}","prediction":"so \\boxed{0.5}","extracted":"0.5",)"
                         R"("correct":true,"decision":"rational"})");
  const AnswerPrediction none{"4", "no idea"};
  EXPECT_EQ(graded_details(0, none, grade_prediction(none))["extracted"], nullptr);
}

std::string error_for(const std::string& contents) {
  const std::string path = (std::filesystem::temp_directory_path() / "stepwise_grade_test.json").string();
  std::ofstream(path) << contents;
  try {
    read_answer_predictions(path);
  } catch (const StatusError& e) {
    std::remove(path.c_str());
    return e.what();
  }
  std::remove(path.c_str());
  return "";
}

TEST(AnswerGrading, BadFilesNameTheEntryAndField) {
  EXPECT_NE(error_for(R"([{"answer": "1", "prediction": 2}])").find("entry 0 field \"prediction\" is number"),
            std::string::npos);
  EXPECT_NE(error_for(R"([{"answer": "1", "prediction": "2"}, {"prediction": "3"}])").find("entry 1 has no \"answer\""),
            std::string::npos);
  EXPECT_NE(error_for(R"({"answer": "1"})").find("not an array"), std::string::npos);
  EXPECT_NE(error_for("[1]").find("entry 0 is not an object"), std::string::npos);
  EXPECT_NE(error_for("[{").find("not JSON"), std::string::npos);
  EXPECT_NE(error_for("[{").find("stepwise_grade_test.json"), std::string::npos);
  EXPECT_EQ(error_for("[]"), "");
}

}  // namespace
}  // namespace stepwise
