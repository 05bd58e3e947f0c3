// `stepwise generate` with text as a user runs it: --prompt and --chat with the model folder's tokenizer (the real
// Qwen3 tokenizer beside a small random model with Qwen3's vocabulary), --json output against an independent
// decode of the printed ids, stop strings that cut the text and end the sample with "stop", --samples with seeds,
// and the errors for a missing tokenizer or prompt.
#include <gtest/gtest.h>


#include <nlohmann/json.hpp>

#include "common/process.h"
#include "common/random_model.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace stepwise::testing {
namespace {

using test::ProcessResult;

const std::string& model_dir() { return test::random_qwen3_vocab_model_dir(); }

const Tokenizer& tokenizer() {
  static const Tokenizer t = Tokenizer::load(test::qwen3_tokenizer_files_dir());
  return t;
}

ProcessResult run(const std::string& args) {
  return test::run_process(test::stepwise_binary() + " generate --model " + model_dir() + " " + args);
}

std::vector<nlohmann::json> json_lines(const ProcessResult& r) {
  std::vector<nlohmann::json> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(GenerateText, PromptTextIsTokenizedAndTheOutputDecoded) {
  const ProcessResult r = run("--prompt 'The capital of France is' --max-new-tokens 12 --ignore-eos --json");
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto lines = json_lines(r);
  ASSERT_EQ(lines.size(), 1u);
  const std::vector<int32_t> ids = lines[0]["token_ids"];
  EXPECT_EQ(ids.size(), 12u);
  EXPECT_EQ(lines[0]["prompt_tokens"], tokenizer().encode("The capital of France is").size());
  EXPECT_EQ(lines[0]["text"], tokenizer().decode(ids, /*skip_special_tokens=*/true));
  EXPECT_EQ(lines[0]["finish_reason"], "length");
  // The plain output is the same text.
  const ProcessResult plain = run("--prompt 'The capital of France is' --max-new-tokens 12 --ignore-eos");
  ASSERT_EQ(plain.exit_code, 0) << plain.describe();
  EXPECT_EQ(plain.out, lines[0]["text"].get<std::string>() + "\n");
}

TEST(GenerateText, ChatUsesTheTemplateAndSplitsNothingWhenThinkingIsOff) {
  const ProcessResult r = run("--chat 'What is 2+2?' --no-thinking --max-new-tokens 8 --ignore-eos --json");
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto j = json_lines(r).at(0);
  const ChatTemplate chat(tokenizer());
  ChatOptions o;
  o.add_generation_prompt = true;
  o.enable_thinking = false;
  EXPECT_EQ(j["prompt_tokens"], chat.encode({ChatMessage{"user", "What is 2+2?", std::nullopt, {}}}, o).ids.size());
  EXPECT_EQ(j["reasoning_text"], "");
  const std::vector<int32_t> ids = j["token_ids"];
  std::string text = tokenizer().decode(ids, true);
  text.erase(0, std::min(text.size(), text.find_first_not_of('\n')));  // as after </think>
  EXPECT_EQ(j["text"], text);
}

TEST(GenerateText, StopStringCutsTheTextAcrossTokens) {
  const auto full = json_lines(run("--prompt 'Once upon a time' --max-new-tokens 24 --ignore-eos --json")).at(0);
  const std::string text = full["text"];
  const std::vector<int32_t> ids = full["token_ids"];
  // A stop string of two ASCII characters: the last of one token and the first of the next.
  std::string stop;
  for (size_t t = 1; t < ids.size() && stop.empty(); ++t) {
    const std::string prefix =
        tokenizer().decode(std::vector<int32_t>(ids.begin(), ids.begin() + static_cast<int64_t>(t)), true);
    if (prefix.empty() || prefix.size() >= text.size() || text.compare(0, prefix.size(), prefix) != 0) continue;
    const char last = prefix.back(), next = text[prefix.size()];
    if (last > ' ' && last < 0x7f && last != '\'' && next > ' ' && next < 0x7f && next != '\'') stop = {last, next};
  }
  ASSERT_FALSE(stop.empty()) << "no token boundary between two printable ASCII characters in " << text;
  const size_t first = text.find(stop);
  const auto j = json_lines(run("--prompt 'Once upon a time' --max-new-tokens 24 --ignore-eos --json --stop '" + stop +
                                "'"))
                     .at(0);
  EXPECT_EQ(j["text"], text.substr(0, first)) << "stop " << nlohmann::json(stop).dump();
  EXPECT_EQ(j["finish_reason"], "stop");
}

TEST(GenerateText, SamplesDrawFromSeedPlusIndex) {
  const std::string base = "--prompt 'Hello' --max-new-tokens 10 --ignore-eos --json --temperature 1 ";
  const auto three = json_lines(run(base + "--samples 3 --seed 40"));
  ASSERT_EQ(three.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const auto alone = json_lines(run(base + "--seed " + std::to_string(40 + i))).at(0);
    EXPECT_EQ(three[static_cast<size_t>(i)]["index"], i);
    EXPECT_EQ(three[static_cast<size_t>(i)]["token_ids"], alone["token_ids"]) << "sample " << i;
  }
}

TEST(GenerateText, ErrorsNameWhatIsMissing) {
  const std::string fixture = std::string(STEPWISE_TEST_DATA_DIR) + "/fixtures/qwen3-tiny-a";
  ProcessResult r = test::run_process(test::stepwise_binary() + " generate --model " + fixture + " --prompt hi");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--prompt: needs a tokenizer"), std::string::npos) << r.err;
  r = run("--max-new-tokens 4");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--prompt-ids IDS, --prompt TEXT or --chat TEXT"), std::string::npos) << r.err;
  r = run("--prompt hi --chat hi");
  EXPECT_NE(r.exit_code, 0);
  r = run("--prompt hi --max-new-tokens 2000");
  EXPECT_NE(r.err.find("max_position_embeddings"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace stepwise::testing
