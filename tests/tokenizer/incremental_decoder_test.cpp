// Streaming decode: over every oracle text, each push() emits only whole characters and all pushes together
// give the text back; bytes that cannot become UTF-8 come out as U+FFFD as decode() writes them.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/status.h"
#include "test_util.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/incremental_decoder.h"
#include "tokenizer/utf8.h"

namespace stepwise {
namespace {

int32_t byte_token(const Tokenizer& tok, unsigned char b) {
  return *tok.token_to_id(byte_level_spelling(std::string(1, static_cast<char>(b))));
}

TEST(IncrementalDecoder, EmitsWholeCharactersOnly) {
  const Tokenizer& tok = test::qwen3_tokenizer();
  const auto oracle = nlohmann::json::parse(test::read_file(test::oracle_path("qwen3_tokenizer_oracle.json")));
  int held_back = 0;  // pushes that completed no character
  for (const auto& c : oracle.at("tokenize")) {
    const auto ids = c.at("ids").get<std::vector<int32_t>>();
    IncrementalDecoder stream(tok);
    std::string text;
    for (const int32_t id : ids) {
      const std::string piece = stream.push(id);
      EXPECT_EQ(find_invalid_utf8(piece), piece.size());
      EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos)
          << "U+FFFD mid-stream in \"" << test::escape(c.at("text")) << "\"";
      held_back += piece.empty() && !tok.token_bytes(id).empty();
      text += piece;
    }
    EXPECT_EQ(stream.finish(), "");
    EXPECT_EQ(text, tok.decode(ids));
  }
  EXPECT_GT(held_back, 0) << "no oracle text splits a character across tokens; the test lost its point";
}

TEST(IncrementalDecoder, HoldsACharacterUntilItsLastByteArrives) {
  const Tokenizer& tok = test::qwen3_tokenizer();
  IncrementalDecoder stream(tok);
  // U+1F600 is F0 9F 98 80.
  EXPECT_EQ(stream.push(byte_token(tok, 0xF0)), "");
  EXPECT_EQ(stream.push(byte_token(tok, 0x9F)), "");
  EXPECT_EQ(stream.push(byte_token(tok, 0x98)), "");
  EXPECT_EQ(stream.push(byte_token(tok, 0x80)), "\xF0\x9F\x98\x80");
  // A cut-off character followed by ASCII: one U+FFFD, then the ASCII, as decode() does.
  EXPECT_EQ(stream.push(byte_token(tok, 0xE4)), "");
  EXPECT_EQ(stream.push(*tok.token_to_id("A")),
            "\xEF\xBF\xBD"
            "A");
  EXPECT_EQ(tok.decode({byte_token(tok, 0xE4), *tok.token_to_id("A")}),
            "\xEF\xBF\xBD"
            "A");
  // A byte that never starts a character is replaced at once; an unfinished one at the end by finish().
  EXPECT_EQ(stream.push(byte_token(tok, 0xFF)), "\xEF\xBF\xBD");
  EXPECT_EQ(stream.push(byte_token(tok, 0xE4)), "");
  EXPECT_EQ(stream.finish(), "\xEF\xBF\xBD");
  EXPECT_EQ(stream.finish(), "");
}

TEST(IncrementalDecoder, SkipsSpecialTokensWhenAsked) {
  const Tokenizer& tok = test::qwen3_tokenizer();
  IncrementalDecoder stream(tok, /*skip_special_tokens=*/true);
  EXPECT_EQ(stream.push(*tok.token_to_id("<|im_end|>")), "");
  EXPECT_EQ(stream.push(*tok.token_to_id("<think>")), "<think>");  // not special in Qwen3's tokenizer.json
  EXPECT_THROW(stream.push(tok.vocab_size()), StatusError);
  EXPECT_THROW(stream.push(-1), StatusError);
}

}  // namespace
}  // namespace stepwise
