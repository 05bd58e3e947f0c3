// Exactness against Hugging Face: the 57 texts of qwen3_tokenizer_oracle.json (transformers 5.17) and the 46
// cases llama.cpp checks its Qwen2 vocab with (ggml-vocab-qwen2.gguf.inp/.out, also made by Hugging Face).
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace stepwise {
namespace {

using test::escape;

const nlohmann::json& oracle() {
  static const nlohmann::json o =
      nlohmann::json::parse(test::read_file(test::oracle_path("qwen3_tokenizer_oracle.json")));
  return o;
}

TEST(TokenizerOracle, EncodesAllHuggingFaceTexts) {
  const Tokenizer& tok = test::qwen3_tokenizer();
  const auto& cases = oracle().at("tokenize");
  ASSERT_EQ(cases.size(), 57u);
  for (const auto& c : cases) {
    const std::string text = c.at("text");
    EXPECT_EQ(tok.encode(text), c.at("ids").get<std::vector<int32_t>>()) << "text: \"" << escape(text) << "\"";
  }
}

TEST(TokenizerOracle, DecodesHuggingFaceIdsBackToTheText) {
  const Tokenizer& tok = test::qwen3_tokenizer();
  int checked = 0;
  for (const auto& c : oracle().at("tokenize")) {
    if (!c.at("decode_roundtrip").get<bool>()) continue;  // NFC changed these texts
    const std::string text = c.at("text");
    EXPECT_EQ(tok.decode(c.at("ids").get<std::vector<int32_t>>()), text) << "text: \"" << escape(text) << "\"";
    ++checked;
  }
  EXPECT_EQ(checked, 55);
}

TEST(TokenizerOracle, SpecialTokenIds) {
  const Tokenizer& tok = test::qwen3_tokenizer();
  const auto& specials = oracle().at("special_ids");
  ASSERT_EQ(specials.size(), 26u);
  for (const auto& [token, id] : specials.items()) {
    EXPECT_EQ(tok.token_to_id(token), id.get<int32_t>()) << token;
    EXPECT_EQ(tok.id_to_token(id.get<int32_t>()), token);
    EXPECT_EQ(tok.decode({id.get<int32_t>()}), token);
  }
  EXPECT_EQ(tok.eos_id(), specials.at("<|im_end|>").get<int32_t>());
  EXPECT_EQ(tok.pad_id(), specials.at("<|endoftext|>").get<int32_t>());
  EXPECT_EQ(tok.bos_id(), std::nullopt);
  EXPECT_EQ(tok.vocab_size(), 151669);
  EXPECT_TRUE(tok.is_special(*tok.token_to_id("<|im_start|>")));
  EXPECT_FALSE(tok.is_special(*tok.token_to_id("<think>")));  // added, but "special": false in tokenizer.json
  EXPECT_EQ(tok.decode({*tok.token_to_id("<|im_start|>"), 872, *tok.token_to_id("<think>")}, true), "user<think>");
}

TEST(TokenizerOracle, LlamaCppQwen2Cases) {
  const Tokenizer& tok = test::qwen3_tokenizer();
  const std::string inputs = test::read_file(test::oracle_path("ggml-vocab-qwen2.gguf.inp"));
  std::istringstream outputs(test::read_file(test::oracle_path("ggml-vocab-qwen2.gguf.out")));
  const std::string sep = "\n__ggml_vocab_test__\n";  // ends every input, as llama.cpp's test-tokenizer-0 reads it
  size_t pos = 0, cases = 0;
  for (size_t next; (next = inputs.find(sep, pos)) != std::string::npos; pos = next + sep.size(), ++cases) {
    const std::string text = inputs.substr(pos, next - pos);
    std::string line;
    ASSERT_TRUE(std::getline(outputs, line)) << "the .out file has fewer lines than the .inp file has cases";
    std::istringstream ids_text(line);
    std::vector<int32_t> expected;
    for (int32_t id; ids_text >> id;) expected.push_back(id);
    EXPECT_EQ(tok.encode(text), expected) << "case " << cases << ": \"" << escape(text) << "\"";
    EXPECT_EQ(tok.decode(expected), text) << "case " << cases;
  }
  EXPECT_EQ(cases, 46u);
}

TEST(TokenizerOracle, BatchEncodingMatchesOneByOne) {
  const Tokenizer& tok = test::qwen3_tokenizer();
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> expected;
  for (const auto& c : oracle().at("tokenize")) {
    texts.push_back(c.at("text"));
    expected.push_back(c.at("ids").get<std::vector<int32_t>>());
  }
  EXPECT_EQ(tok.encode_batch(texts, 3), expected);
  EXPECT_EQ(tok.encode_batch({}, 2), std::vector<std::vector<int32_t>>{});
}

}  // namespace
}  // namespace stepwise
