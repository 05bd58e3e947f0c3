// The Qwen3 chat template against Hugging Face's 28 renderings (qwen3_tokenizer_oracle.json) and Jinja2's 160
// (tests/data/qwen3-tokenizer/chat_jinja_oracle.json: tools, tool calls, <think> edge cases, random chats):
// text and ids; then the completion spans, as chat_template.h defines them, checked against the rendered text.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/status.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer_files.h"

namespace stepwise {
namespace {

using Json = nlohmann::ordered_json;

struct OracleCase {
  std::vector<ChatMessage> messages;
  ChatOptions options;
  std::string text;
  std::vector<int32_t> ids;
  std::string name;
};

std::vector<OracleCase> load_cases(const std::string& path, const Json& list) {
  std::vector<OracleCase> cases;
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& c = list[i];
    OracleCase oc;
    oc.messages = chat_messages_from_json(c.at("messages"));
    oc.options.add_generation_prompt = c.at("add_generation_prompt");
    oc.options.enable_thinking = c.at("enable_thinking");
    if (c.contains("tools")) oc.options.tools = c.at("tools");
    oc.text = c.at("text");
    oc.ids = c.at("ids").get<std::vector<int32_t>>();
    oc.name = path + " case " + std::to_string(i);
    cases.push_back(std::move(oc));
  }
  return cases;
}

const std::vector<OracleCase>& hugging_face_cases() {
  static const auto cases = [] {
    const std::string path = test::oracle_path("qwen3_tokenizer_oracle.json");
    return load_cases(path, Json::parse(test::read_file(path)).at("chat_template"));
  }();
  return cases;
}

const std::vector<OracleCase>& jinja_cases() {
  static const auto cases = [] {
    const std::string path = std::string(STEPWISE_TEST_DATA_DIR) + "/qwen3-tokenizer/chat_jinja_oracle.json";
    return load_cases(path, Json::parse(test::read_file(path)).at("cases"));
  }();
  return cases;
}

const ChatTemplate& qwen3_chat() {
  static const ChatTemplate chat(test::qwen3_tokenizer());
  return chat;
}

void expect_matches(const std::vector<OracleCase>& cases) {
  for (const OracleCase& c : cases) {
    const EncodedChat e = qwen3_chat().encode(c.messages, c.options);
    EXPECT_EQ(e.text, c.text) << c.name << "\n  rendered: \"" << test::escape(e.text) << "\"\n  expected: \""
                              << test::escape(c.text) << "\"";
    EXPECT_EQ(e.ids, c.ids) << c.name;
  }
}

TEST(ChatTemplate, MatchesHuggingFaceRenderings) {
  ASSERT_EQ(hugging_face_cases().size(), 28u);
  expect_matches(hugging_face_cases());
}

TEST(ChatTemplate, MatchesJinjaRenderingsWithToolsAndEdgeCases) {
  ASSERT_EQ(jinja_cases().size(), 160u);
  expect_matches(jinja_cases());
}

// Each span holds the assistant body and its <|im_end|>, and nothing of the prompt but a shared first token.
TEST(ChatTemplate, CompletionSpansCoverEachAssistantBodyThroughImEnd) {
  const Tokenizer& tok = test::qwen3_tokenizer();
  const int32_t im_end = *tok.token_to_id("<|im_end|>");
  size_t spans = 0, shared_first_tokens = 0;
  for (const auto* cases : {&hugging_face_cases(), &jinja_cases()}) {
    for (const OracleCase& c : *cases) {
      const RenderedChat r = qwen3_chat().render(c.messages, c.options);
      const EncodedChat e = qwen3_chat().encode(c.messages, c.options);
      // Where NFC changed the text, decoded tokens no longer spell the rendered bytes; check the rest there.
      const bool text_is_nfc = tok.decode(e.ids) == r.text;
      size_t assistants = 0;
      for (const ChatMessage& m : c.messages) assistants += m.role == "assistant";
      ASSERT_EQ(e.completions.size(), assistants) << c.name;
      ASSERT_EQ(r.completions.size(), assistants) << c.name;
      for (size_t k = 0; k < assistants; ++k) {
        const CompletionSpan& s = e.completions[k];
        const std::string body = r.text.substr(r.completions[k].begin, r.completions[k].end - r.completions[k].begin);
        ASSERT_EQ(s.message, r.completions[k].message);
        EXPECT_EQ(c.messages[s.message].role, "assistant");
        EXPECT_EQ(r.text.substr(r.completions[k].begin - 22, 22), "<|im_start|>assistant\n") << c.name;
        ASSERT_LT(s.begin, s.end) << c.name;
        EXPECT_EQ(e.ids[s.end - 1], im_end) << c.name;
        if (!text_is_nfc) continue;
        const std::string span_text = tok.decode(std::vector<int32_t>(e.ids.begin() + s.begin, e.ids.begin() + s.end));
        const std::string before = tok.decode(std::vector<int32_t>(e.ids.begin(), e.ids.begin() + s.begin));
        // Either the span is exactly the body, or its first token also holds the header's "\n".
        if (span_text != body) {
          EXPECT_EQ(span_text, "\n" + body) << c.name << " completion " << k;
          EXPECT_EQ(body[0], '\n') << c.name;
          ++shared_first_tokens;
        }
        EXPECT_EQ(before.size() + span_text.size(), r.completions[k].end) << c.name;
        ++spans;
      }
    }
  }
  EXPECT_GT(spans, 100u);
  EXPECT_GT(shared_first_tokens, 0u);
}

TEST(ChatTemplate, SpanOfABodyStartingWithANewlineTakesTheSharedToken) {
  const Tokenizer& tok = test::qwen3_tokenizer();
  const std::vector<ChatMessage> messages = {
      {"user", "Q", {}, {}}, {"assistant", "\nA", {}, {}}, {"user", "Q2", {}, {}}};
  const EncodedChat e = qwen3_chat().encode(messages, ChatOptions{});
  ASSERT_EQ(e.text,
            "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n\nA<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n");
  ASSERT_EQ(e.completions.size(), 1u);
  const CompletionSpan& s = e.completions[0];
  EXPECT_EQ(s.message, 1u);
  EXPECT_EQ(tok.id_to_token(e.ids[s.begin - 1]), "assistant");
  EXPECT_EQ(tok.decode({e.ids[s.begin]}), "\n\n");  // header "\n" and the body's "\n" are one token
  EXPECT_EQ(tok.decode(std::vector<int32_t>(e.ids.begin() + s.begin, e.ids.begin() + s.end)), "\n\nA<|im_end|>");
}

TEST(ChatTemplate, RejectsWhatJinjaWouldDropOrFailOn) {
  const ChatTemplate& chat = qwen3_chat();
  try {
    chat.render({{"developer", "x", {}, {}}}, ChatOptions{});
    FAIL() << "an unknown role was rendered";
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("messages[0].role"), std::string::npos) << e.what();
  }
  EXPECT_THROW(chat.render({}, ChatOptions{}), StatusError);
  EXPECT_THROW(chat_messages_from_json(Json::parse(R"([{"role": "user"}])")), StatusError);
  EXPECT_THROW(chat_messages_from_json(Json::parse(R"([{"role": "assistant", "content": null}])")), StatusError);
  EXPECT_THROW(chat_messages_from_json(Json::parse(R"([{"role": "assistant", "content": "", "tool_calls": [{}]}])")),
               StatusError);
  EXPECT_THROW(chat_messages_from_json(Json::parse(R"({"role": "user", "content": "not an array"})")), StatusError);
  try {
    chat_messages_from_json(Json::parse(R"([{"role": "user", "content": "a"}, {"role": "user", "content": 3}])"));
    FAIL() << "a number was taken as content";
  } catch (const StatusError& e) {
    EXPECT_NE(std::string(e.what()).find("messages[1].content"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplate, RefusesATokenizerWithAnotherTemplate) {
  TokenizerSpec spec = read_tokenizer_files(test::qwen3_tokenizer_dir() + "/tokenizer.json",
                                            test::qwen3_tokenizer_dir() + "/tokenizer_config.json");
  spec.chat_template += "{{- 'extra' }}";
  const Tokenizer other(spec);
  try {
    ChatTemplate chat(other);
    FAIL() << "a different template was accepted";
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("chat_template"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stepwise
