// `stepwise tokenize`, run as a process: text, chat and --decode against the Hugging Face oracle, and the
// errors for a missing or broken tokenizer directory.
#include <cstdlib>
#include <fstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace stepwise {
namespace {

struct CliRun {
  int exit_code;
  std::string out, err;
};

// Runs `stepwise tokenize <flags>` with `input` on stdin.
CliRun tokenize(const std::string& flags, const std::string& input) {
  const std::string base =
      test::temp_path(std::string("cli_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::ofstream(base + ".in", std::ios::binary) << input;
  const std::string command = std::string(STEPWISE_BUILD_DIR) + "/bin/stepwise tokenize " + flags + " < '" + base +
                              ".in' > '" + base + ".out' 2> '" + base + ".err'";
  const int status = std::system(command.c_str());
  CliRun r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, test::read_file(base + ".out"),
           test::read_file(base + ".err")};
  for (const char* ext : {".in", ".out", ".err"}) std::remove((base + ext).c_str());
  return r;
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
  EXPECT_EQ(tokenize(tokenizer_flag() + " --chat --decode", "[]").exit_code, 1);
  EXPECT_EQ(tokenize(tokenizer_flag() + " --no-thinking", "x").exit_code, 1);
  EXPECT_EQ(tokenize("--chat", "[]").exit_code, 1);  // no --tokenizer
}

}  // namespace
}  // namespace stepwise
