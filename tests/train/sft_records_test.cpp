// Record formats: detection, the chats they become, and the reason each kind of bad record is skipped for.
#include <gtest/gtest.h>

#include <sstream>

#include "train/sft_records.h"
#include "train_test_util.h"

namespace stepwise::train_test {
namespace {

using json = nlohmann::ordered_json;

std::string reason_of(const std::string& text) {
  try {
    parse_sft_record(json::parse(text));
    return "ok";
  } catch (const BadRecord& e) {
    return e.reason();
  }
}

TEST(SftRecords, ChatKeepsRolesAndReasoning) {
  const SftExample ex = parse_sft_record(json::parse(
      R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
          {"role": "assistant", "content": "4", "reasoning_content": "two and two"}]})"));
  EXPECT_EQ(ex.format, "chat");
  ASSERT_EQ(ex.messages.size(), 3u);
  EXPECT_EQ(ex.messages[2].role, "assistant");
  EXPECT_EQ(ex.messages[2].reasoning_content.value_or(""), "two and two");
}

TEST(SftRecords, PromptCompletionStringsAndMessages) {
  SftExample ex = parse_sft_record(json::parse(R"({"prompt": "Say hi", "completion": "hi"})"));
  EXPECT_EQ(ex.format, "prompt_completion");
  ASSERT_EQ(ex.messages.size(), 2u);
  EXPECT_EQ(ex.messages[0].role, "user");
  EXPECT_EQ(ex.messages[1].role, "assistant");
  EXPECT_EQ(ex.messages[1].content, "hi");
  ex = parse_sft_record(json::parse(R"({"prompt": [{"role": "user", "content": "a"}],
                                        "completion": [{"role": "assistant", "content": "b"}]})"));
  ASSERT_EQ(ex.messages.size(), 2u);
  EXPECT_EQ(ex.messages[1].content, "b");
}

TEST(SftRecords, DistilledTraceFromTheSharedSamples) {
  const json records = json::parse(read_text(reasoning_data("distill_samples_deepseek_r1.json")));
  ASSERT_EQ(records.size(), 5u);
  for (const auto& r : records) {
    const SftExample ex = parse_sft_record(r);
    EXPECT_EQ(ex.format, "distill");
    ASSERT_EQ(ex.messages.size(), 2u);
    EXPECT_EQ(ex.messages[0].content, r["problem"].get<std::string>());
    EXPECT_EQ(ex.messages[1].content, r["message_content"].get<std::string>());
    EXPECT_EQ(ex.messages[1].reasoning_content.value_or(""), r["message_thinking"].get<std::string>());
  }
}

TEST(SftRecords, Gsm8kStepsBecomeReasoningAndTheAnswerIsBoxed) {
  std::istringstream lines(read_text(reasoning_data("gsm8k_train_200.jsonl")));
  std::string first;
  std::getline(lines, first);
  const SftExample ex = parse_sft_record(json::parse(first));
  EXPECT_EQ(ex.format, "gsm8k");
  ASSERT_EQ(ex.messages.size(), 2u);
  EXPECT_EQ(ex.messages[1].content, "\\boxed{72}");
  EXPECT_EQ(ex.messages[1].reasoning_content.value_or(""),
            "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.");
}

TEST(SftRecords, Gsm8kAnswerSplitting) {
  EXPECT_EQ(split_gsm8k_answer("a <<1+1=2>>2 b\n#### 1,000").second, "1,000");
  EXPECT_EQ(split_gsm8k_answer("a <<1+1=2>>2 b\n#### 1,000").first, "a 2 b");
  EXPECT_EQ(split_gsm8k_answer("unclosed <<x\n#### 3").first, "unclosed <<x");
}

TEST(SftRecords, BadRecordsHaveReasons) {
  EXPECT_EQ(reason_of(R"({"text": "plain"})"), "unknown_format");
  EXPECT_EQ(reason_of(R"([1, 2])"), "wrong_type");
  EXPECT_EQ(reason_of(R"({"prompt": "x"})"), "missing_field");
  EXPECT_EQ(reason_of(R"({"prompt": "x", "completion": 3})"), "wrong_type");
  EXPECT_EQ(reason_of(R"({"prompt": "x", "completion": "  "})"), "empty_completion");
  EXPECT_EQ(reason_of(R"({"question": "q"})"), "missing_field");
  EXPECT_EQ(reason_of(R"({"question": "q", "answer": "no final line"})"), "missing_field");
  EXPECT_EQ(reason_of(R"({"problem": "p", "message_thinking": "t"})"), "missing_field");
  EXPECT_EQ(reason_of(R"({"problem": "p", "message_thinking": "t", "message_content": ""})"), "empty_completion");
  EXPECT_EQ(reason_of(R"({"messages": "hi"})"), "wrong_type");
  EXPECT_EQ(reason_of(R"({"messages": [{"role": "user"}]})"), "invalid_messages");
  EXPECT_EQ(reason_of(R"({"messages": [{"role": "user", "content": "hi"}]})"), "no_assistant_turn");
  EXPECT_EQ(reason_of(R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]})"),
            "empty_completion");
  EXPECT_EQ(reason_of(R"({"question": "q", "answer": "x\n#### 4"})"), "ok");
}

}  // namespace
}  // namespace stepwise::train_test
