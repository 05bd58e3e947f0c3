// Loading tokenizer.json / tokenizer_config.json: errors name the file and the field; and the options Qwen3's
// file does not use (GPT-2's ByteLevel split, "left right" merges, Llama 3's ignore_merges) on a tiny vocab
// whose ids follow from the BPE rules by hand.
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/status.h"
#include "test_util.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace stepwise {
namespace {

using nlohmann::json;

// A byte-level tokenizer.json: the 256 bytes are ids 0..255 (id = byte), then "ab" = 256, "abc" = 257,
// merges a+b and ab+c, GPT-2's ByteLevel pre-tokenizer, and the added token "<|x|>" = 258.
json tiny_tokenizer_json() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_spelling(std::string(1, static_cast<char>(b)))] = b;
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  return json{{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b", "ab c"}}}},
              {"normalizer", nullptr},
              {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
              {"decoder", {{"type", "ByteLevel"}}},
              {"added_tokens", {{{"id", 258}, {"content", "<|x|>"}, {"special", true}, {"normalized", false}}}}};
}

class TokenizerFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::temp_path(std::string("files_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    dir_ = root_;
    ::mkdir(root_.c_str(), 0755);
  }
  void TearDown() override {
    for (const char* name : {"/tokenizer.json", "/tokenizer_config.json"}) std::remove((root_ + name).c_str());
    ::rmdir(root_.c_str());
  }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ + "/" + name) << text; }
  // The error Tokenizer::load(dir_) throws.
  StatusError load_error() {
    try {
      Tokenizer::load(dir_);
    } catch (const StatusError& e) {
      return e;
    }
    ADD_FAILURE() << "loading " << dir_ << " succeeded";
    return StatusError(StatusCode::kOk, "");
  }
  void expect_error(StatusCode code, const std::vector<std::string>& mentions) {
    const StatusError e = load_error();
    EXPECT_EQ(e.code(), code) << e.what();
    for (const std::string& m : mentions) EXPECT_NE(std::string(e.what()).find(m), std::string::npos) << e.what();
  }
  std::string root_, dir_;  // dir_ is what load_error() loads, root_ what TearDown removes
};

TEST_F(TokenizerFiles, MissingDirectoryNamesTheFile) {
  dir_ += "/does-not-exist";
  expect_error(StatusCode::kNotFound, {dir_ + "/tokenizer.json"});
}

TEST_F(TokenizerFiles, InvalidJsonNamesTheFile) {
  write("tokenizer.json", "{\"model\": ");
  expect_error(StatusCode::kInvalidArgument, {dir_ + "/tokenizer.json", "not valid JSON"});
}

TEST_F(TokenizerFiles, MissingOrWrongFieldsAreNamed) {
  json j = tiny_tokenizer_json();
  j["model"].erase("merges");
  write("tokenizer.json", j.dump());
  expect_error(StatusCode::kInvalidArgument, {"tokenizer.json", "model.merges", "missing"});

  j = tiny_tokenizer_json();
  j["model"]["merges"] = {"a b", 7};
  write("tokenizer.json", j.dump());
  expect_error(StatusCode::kInvalidArgument, {"model.merges[1]"});

  j = tiny_tokenizer_json();
  j["model"]["merges"] = {"a q"};  // "aq" is no token
  write("tokenizer.json", j.dump());
  expect_error(StatusCode::kInvalidArgument, {"model.merges[0]", "not in model.vocab"});

  j = tiny_tokenizer_json();
  j["model"]["vocab"].erase(byte_level_spelling("\n"));
  write("tokenizer.json", j.dump());
  expect_error(StatusCode::kInvalidArgument, {"model.vocab", "byte 0xa"});

  j = tiny_tokenizer_json();
  j["added_tokens"][0]["id"] = "258";
  write("tokenizer.json", j.dump());
  expect_error(StatusCode::kInvalidArgument, {"added_tokens[0].id"});
}

TEST_F(TokenizerFiles, UnsupportedKindsAreNamed) {
  json j = tiny_tokenizer_json();
  j["model"]["type"] = "WordPiece";
  write("tokenizer.json", j.dump());
  expect_error(StatusCode::kUnimplemented, {"model.type", "WordPiece"});

  j = tiny_tokenizer_json();
  j["normalizer"] = {{"type", "NFKC"}};
  write("tokenizer.json", j.dump());
  expect_error(StatusCode::kUnimplemented, {"normalizer.type", "NFKC"});

  j = tiny_tokenizer_json();
  j["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Removed"}, {"type": "ByteLevel"}]})");
  write("tokenizer.json", j.dump());
  expect_error(StatusCode::kUnimplemented, {"pre_tokenizer.pretokenizers[0].behavior"});

  j = tiny_tokenizer_json();
  j["pre_tokenizer"] = json::parse(R"({"type": "Split", "pattern": {"Regex": "x"}, "behavior": "Isolated"})");
  write("tokenizer.json", j.dump());
  expect_error(StatusCode::kUnimplemented, {"pre_tokenizer", "ByteLevel"});

  j = tiny_tokenizer_json();
  j["added_tokens"][0]["lstrip"] = true;
  write("tokenizer.json", j.dump());
  expect_error(StatusCode::kUnimplemented, {"added_tokens[0].lstrip"});
}

TEST_F(TokenizerFiles, BadRegexIsNamed) {
  json j = tiny_tokenizer_json();
  j["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"},
      {"type": "ByteLevel", "use_regex": false}]})");
  write("tokenizer.json", j.dump());
  expect_error(StatusCode::kInvalidArgument, {"pre_tokenizer.pretokenizers[0].pattern.Regex", "does not compile"});
}

TEST_F(TokenizerFiles, ConfigTokensMustBelongToTheVocab) {
  write("tokenizer.json", tiny_tokenizer_json().dump());
  write("tokenizer_config.json", json{{"eos_token", {{"content", "<|nope|>"}}}}.dump());
  expect_error(StatusCode::kInvalidArgument, {"tokenizer_config.json", "eos_token", "<|nope|>"});
  write("tokenizer_config.json", "[1, 2");
  expect_error(StatusCode::kInvalidArgument, {"tokenizer_config.json", "not valid JSON"});
}

TEST_F(TokenizerFiles, Gpt2StyleByteLevelSplitAndStringMerges) {
  write("tokenizer.json", tiny_tokenizer_json().dump());
  write("tokenizer_config.json", json{{"eos_token", "<|x|>"}, {"pad_token", nullptr}}.dump());
  const Tokenizer tok = Tokenizer::load(dir_);
  // GPT-2 split: "abc", " ab", "c", "<|x|>" taken out first, " abd" -> " ", "ab", "d" after merges.
  EXPECT_EQ(tok.encode("abc ab<|x|> abd"), (std::vector<int32_t>{257, ' ', 256, 258, ' ', 256, 'd'}));
  EXPECT_EQ(tok.decode({257, ' ', 256, 258}), "abc ab<|x|>");
  EXPECT_EQ(tok.decode({257, 258}, /*skip_special_tokens=*/true), "abc");
  EXPECT_EQ(tok.eos_id(), 258);
  EXPECT_EQ(tok.pad_id(), std::nullopt);
  EXPECT_TRUE(tok.chat_template().empty());
  EXPECT_THROW(tok.decode({259}), StatusError);
  EXPECT_THROW(tok.encode("bad \xC3"), StatusError);
}

TEST_F(TokenizerFiles, IgnoreMergesTakesWholeVocabWords) {
  json j = tiny_tokenizer_json();
  j["model"]["merges"] = json::parse(R"([["a", "b"]])");  // the [left, right] form; "abc" cannot be reached by merging
  write("tokenizer.json", j.dump());
  EXPECT_EQ(Tokenizer::load(dir_).encode("abc"), (std::vector<int32_t>{256, 'c'}));
  j["model"]["ignore_merges"] = true;
  write("tokenizer.json", j.dump());
  EXPECT_EQ(Tokenizer::load(dir_).encode("abc"), (std::vector<int32_t>{257}));
}

}  // namespace
}  // namespace stepwise
