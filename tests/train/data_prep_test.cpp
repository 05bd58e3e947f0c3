// `data prepare` through the Qwen3 chat template: what is trained on (checked against hand-written renderings),
// skipped records counted per reason with their lines, --strict, .json arrays, and nothing lost on failure.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/status.h"
#include "io/token_shards.h"
#include "tokenizer/chat_template.h"
#include "train/data_prep.h"
#include "train_test_util.h"

namespace stepwise::train_test {
namespace {

const Tokenizer& qwen3() {
  static const Tokenizer* tok = [] {
    if (!std::filesystem::exists(qwen3_tokenizer_dir() + "/tokenizer.json"))
      ADD_FAILURE() << qwen3_tokenizer_dir() << "/tokenizer.json is missing: run scripts/setup.sh";
    return new Tokenizer(Tokenizer::load(qwen3_tokenizer_dir()));
  }();
  return *tok;
}

DataPrepSummary prepare(const std::string& input, const std::string& out, int64_t max_len = 0, bool strict = false) {
  static const ChatTemplate tmpl(qwen3());
  DataPrepOptions o;
  o.max_len = max_len;
  o.strict = strict;
  o.progress = false;
  return prepare_sft_data({input}, out, qwen3_chat_encoder(tmpl), o);
}

struct Split {
  std::string trained, context;  // decoded masked tokens; decoded unmasked tokens
};
std::vector<Split> read_back(const std::string& dir) {
  std::vector<Split> out;
  for (const auto& shard : open_token_dataset(dir))
    for (int64_t d = 0; d < shard->num_documents(); ++d) {
      const TokenShardReader::Document doc = shard->document(d);
      std::vector<int32_t> trained, context;
      for (int64_t t = 0; t < doc.length; ++t) (doc.loss_mask[t] ? trained : context).push_back(doc.tokens[t]);
      out.push_back({qwen3().decode(trained), qwen3().decode(context)});
    }
  return out;
}

std::string strip_newlines(const std::string& s) {
  const size_t b = s.find_first_not_of('\n');
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of('\n') - b + 1);
}

TEST(DataPrep, MixedFileTrainsOnAssistantTurnsAndSkipsBadLines) {
  const std::string dir = fresh_test_dir("mixed");
  const std::string long_answer(3000, 'x');
  write_text(dir + "/in.jsonl",
             R"({"messages": [{"role": "user", "content": "2+2?"}, )"
             R"({"role": "assistant", "content": "4", "reasoning_content": "two and two"}]})"
             "\n{not json\n\n"
             R"({"question": "Q?", "answer": "Add <<1+2=3>>3.\n#### 3"})"
             "\n"
             R"({"prompt": "only a prompt"})"
             "\n"
             R"({"prompt": "Say hi", "completion": "hi"})"
             "\n"
             R"({"prompt": "x", "completion": 7})"
             "\n"
             R"({"prompt": "x", "completion": ")" + long_answer + R"("})"
             "\n"
             R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]})"
             "\n");
  const DataPrepSummary s = prepare(dir + "/in.jsonl", dir + "/out", /*max_len=*/200);
  EXPECT_EQ(s.records, 8);
  EXPECT_EQ(s.examples, 3);
  ASSERT_EQ(s.skipped.size(), 5u);
  EXPECT_EQ(s.skipped.at("invalid_json").first, std::vector<std::string>{"in.jsonl:2"});
  EXPECT_EQ(s.skipped.at("missing_field").first, std::vector<std::string>{"in.jsonl:5"});
  EXPECT_EQ(s.skipped.at("wrong_type").first, std::vector<std::string>{"in.jsonl:7"});
  EXPECT_EQ(s.skipped.at("too_long").first, std::vector<std::string>{"in.jsonl:8"});
  EXPECT_EQ(s.skipped.at("empty_completion").first, std::vector<std::string>{"in.jsonl:9"});
  EXPECT_NE(s.to_text().find("too_long: 1 (first at in.jsonl:8)"), std::string::npos) << s.to_text();

  // Qwen3's template, written out by hand: the last assistant turn always has a think block.
  const std::vector<Split> docs = read_back(dir + "/out");
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].trained, "<think>\ntwo and two\n</think>\n\n4<|im_end|>");
  EXPECT_EQ(docs[0].context, "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n\n");
  EXPECT_EQ(docs[1].trained, "<think>\nAdd 3.\n</think>\n\n\\boxed{3}<|im_end|>");
  EXPECT_EQ(docs[2].trained, "<think>\n\n</think>\n\nhi<|im_end|>");
  EXPECT_EQ(docs[2].context, "<|im_start|>user\nSay hi<|im_end|>\n<|im_start|>assistant\n\n");
}

TEST(DataPrep, EmptyAssistantTurnIsSkipped) {
  const std::string dir = fresh_test_dir("empty");
  write_text(dir + "/in.jsonl",
             R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": " "}]})"
             "\n"
             R"({"prompt": "p", "completion": "c"})"
             "\n");
  const DataPrepSummary s = prepare(dir + "/in.jsonl", dir + "/out");
  EXPECT_EQ(s.examples, 1);
  EXPECT_EQ(s.skipped.at("empty_completion").first, std::vector<std::string>{"in.jsonl:1"});
}

TEST(DataPrep, StrictFailsAtTheFirstBadLineAndKeepsTheOldDataset) {
  const std::string dir = fresh_test_dir("strict");
  write_text(dir + "/good.jsonl", R"({"prompt": "p", "completion": "c"})" "\n");
  prepare(dir + "/good.jsonl", dir + "/out");
  write_text(dir + "/bad.jsonl", R"({"prompt": "p", "completion": "c"})" "\n\n" R"({"prompt": 1, "completion": "c"})"
                                 "\n");
  try {
    prepare(dir + "/bad.jsonl", dir + "/out", 0, /*strict=*/true);
    FAIL() << "strict accepted a bad line";
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:3: wrong_type"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_token_dataset_index(dir + "/out").documents, 1);  // untouched
  for (const auto& entry : std::filesystem::directory_iterator(dir))  // no temporary directory left behind
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
}

TEST(DataPrep, JsonArrayOfDistilledTraces) {
  const std::string dir = fresh_test_dir("distill");
  for (const char* name : {"distill_samples_deepseek_r1.json", "distill_samples_deepseek_r1_8b.json"}) {
    const DataPrepSummary s = prepare(reasoning_data(name), dir + "/" + name);
    EXPECT_EQ(s.examples, 5) << name;
    EXPECT_EQ(s.formats.at("distill"), 5) << name;
    const nlohmann::json records = nlohmann::json::parse(read_text(reasoning_data(name)));
    const std::vector<Split> docs = read_back(dir + "/" + name);
    ASSERT_EQ(docs.size(), 5u);
    for (size_t i = 0; i < docs.size(); ++i) {
      const std::string thinking = records[i]["message_thinking"], content = records[i]["message_content"];
      EXPECT_EQ(docs[i].trained, "<think>\n" + strip_newlines(thinking) + "\n</think>\n\n" + content + "<|im_end|>")
          << name << " record " << i;
    }
  }
}

TEST(DataPrep, Gsm8kSubsetSummary) {
  const std::string dir = fresh_test_dir("gsm8k");
  const DataPrepSummary s = prepare(reasoning_data("gsm8k_train_200.jsonl"), dir + "/out");
  EXPECT_EQ(s.records, 200);
  EXPECT_EQ(s.examples, 200);
  EXPECT_TRUE(s.skipped.empty());
  EXPECT_GT(s.loss_tokens, 0);
  EXPECT_LT(s.loss_tokens, s.tokens);
  EXPECT_LE(s.length_percentiles.at("p50"), s.length_percentiles.at("p90"));
  EXPECT_LE(s.length_percentiles.at("p90"), s.length_percentiles.at("p99"));
  EXPECT_LE(s.length_percentiles.at("p99"), s.length_percentiles.at("max"));
  const TokenDatasetIndex index = read_token_dataset_index(dir + "/out");
  EXPECT_EQ(index.tokens, s.tokens);
  EXPECT_EQ(index.max_document_length, s.length_percentiles.at("max"));
}

TEST(DataPrep, RefusesToReplaceSomethingElse) {
  const std::string dir = fresh_test_dir("refuse");
  std::filesystem::create_directories(dir + "/out");
  write_text(dir + "/out/precious.txt", "keep me");
  write_text(dir + "/in.jsonl", R"({"prompt": "p", "completion": "c"})" "\n");
  EXPECT_THROW(prepare(dir + "/in.jsonl", dir + "/out"), StatusError);
  EXPECT_EQ(read_text(dir + "/out/precious.txt"), "keep me");
}

}  // namespace
}  // namespace stepwise::train_test
