// `stepwise tokenize`, run as a process: text, chat and --decode (with and without --skip-special-tokens) against
// the Hugging Face oracle, and the errors for a missing or broken tokenizer directory and conflicting flags.
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/process.h"
#include "test_util.h"

namespace stepwise {
namespace {

using CliRun = test::ProcessResult;

// Runs `stepwise tokenize <flags>` with `input` on stdin.
CliRun tokenize(const std::string& flags, const std::string& input) {
  return test::run_process(test::stepwise_binary() + " tokenize " + flags, {input, 60});
}

std::string tokenizer_flag() { return "--tokenizer '" + test::qwen3_tokenizer_dir() + "'"; }

const nlohmann::json& oracle() {
  static const nlohmann::json o =
      nlohmann::json::parse(test::read_file(test::oracle_path("qwen3_tokenizer_oracle.json")));
  return o;
}

std::vector<int32_t> ids_of(const CliRun& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out).get<std::vector<int32_t>>();
}

TEST(TokenizeCli, TextToIds) {
  for (const int i : {3, 17, 41}) {  // GSM8K text, Chinese, an <|endoftext|> inside text
    const auto& c = oracle()["tokenize"][i];
    EXPECT_EQ(ids_of(tokenize(tokenizer_flag(), c["text"])), c["ids"].get<std::vector<int32_t>>()) << c["text"];
  }
}

TEST(TokenizeCli, ChatToIds) {
  for (const int i : {2, 9, 13, 19}) {  // thinking off + prompt; inline <think>; reasoning_content; two turns
    const auto& c = oracle()["chat_template"][i];
    std::string flags = tokenizer_flag() + " --chat";
    flags += c["enable_thinking"].get<bool>() ? " --enable-thinking" : " --no-thinking";
    if (c["add_generation_prompt"].get<bool>()) flags += " --add-generation-prompt";
    EXPECT_EQ(ids_of(tokenize(flags, c["messages"].dump())), c["ids"].get<std::vector<int32_t>>()) << c["text"];
  }
}

TEST(TokenizeCli, DecodeIdsToText) {
  const auto& c = oracle()["tokenize"][22];  // emoji, ZWJ family, flags
  const CliRun r = tokenize(tokenizer_flag() + " --decode", c["ids"].dump());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, c["text"].get<std::string>());
  const CliRun bad = tokenize(tokenizer_flag() + " --decode", "[1, \"two\"]");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("element 1"), std::string::npos) << bad.err;
}

// Hugging Face's skip_special_tokens drops the added tokens marked special in tokenizer.json (<|im_start|>, ...), not
// the others (<think>): the reference is the oracle's text with those tokens' strings removed.
TEST(TokenizeCli, DecodeSkipsSpecialTokens) {
  const auto& c = oracle()["chat_template"][9];  // a two-turn chat with a <think> block
  const auto added = nlohmann::json::parse(test::read_file(test::qwen3_tokenizer_dir() + "/tokenizer.json"))["added_tokens"];
  std::string expected = c["text"];
  int removed = 0;
  for (const auto& token : added) {
    if (!token["special"].get<bool>()) continue;
    const std::string content = token["content"];
    for (size_t at; (at = expected.find(content)) != std::string::npos; ++removed) expected.erase(at, content.size());
  }
  ASSERT_GT(removed, 0) << "the case has no special tokens";
  ASSERT_NE(expected.find("<think>"), std::string::npos) << "the case should keep a non-special added token";

  const CliRun skipped = tokenize(tokenizer_flag() + " --decode --skip-special-tokens", c["ids"].dump());
  EXPECT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_EQ(skipped.out, expected);
  const CliRun kept = tokenize(tokenizer_flag() + " --decode", c["ids"].dump());
  EXPECT_EQ(kept.out, c["text"].get<std::string>());
  const CliRun without_decode = tokenize(tokenizer_flag() + " --skip-special-tokens", "x");
  EXPECT_EQ(without_decode.exit_code, 1);
  EXPECT_NE(without_decode.err.find("--skip-special-tokens requires --decode"), std::string::npos) << without_decode.err;
}

TEST(TokenizeCli, MissingTokenizerDirNamesTheFile) {
  const CliRun r = tokenize("--tokenizer /nonexistent/qwen3", "hello");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/qwen3/tokenizer.json"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(TokenizeCli, InvalidTokenizerJsonNamesTheFileAndField) {
  const std::string dir = test::temp_path("cli_bad_tokenizer");
  ::mkdir(dir.c_str(), 0755);
  std::ofstream(dir + "/tokenizer.json") << R"({"model": {"type": "BPE", "vocab": {"a": 0}}, "pre_tokenizer": null})";
  const CliRun r = tokenize("--tokenizer '" + dir + "'", "hello");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dir + "/tokenizer.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("model.merges"), std::string::npos) << r.err;
  std::remove((dir + "/tokenizer.json").c_str());
  ::rmdir(dir.c_str());
}

TEST(TokenizeCli, RejectsConflictingFlags) {
  const auto expect_error = [](const CliRun& r, const std::string& message) {
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  };
  expect_error(tokenize(tokenizer_flag() + " --chat --decode", "[]"), "--chat excludes --decode");
  expect_error(tokenize(tokenizer_flag() + " --no-thinking", "x"), "--no-thinking requires --chat");
  expect_error(tokenize("--chat", "[]"), "missing required flag --tokenizer");
}

}  // namespace
}  // namespace stepwise
