// `stepwise data prepare`: JSONL files (or .json files holding an array of records) of SFT records -> one token
// dataset (token shards + dataset.json, see io/token_shards.h). Each record goes through sft_records.h and a chat
// encoder (the Qwen3 chat template for real data); the loss mask covers the assistant completions. Bad records
// are skipped and counted per reason (or, with `strict`, stop the preparation), and the output directory is
// replaced only once everything is written: a failure leaves what was there before untouched.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/chat_template.h"

namespace stepwise {

struct EncodedExample {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> loss_mask;  // 1: the token is a training target
};
using ChatEncoder = std::function<EncodedExample(const std::vector<ChatMessage>&)>;

// The Qwen3 chat template (thinking kept), loss on every assistant completion span. `tmpl` must outlive it.
ChatEncoder qwen3_chat_encoder(const ChatTemplate& tmpl);

struct DataPrepOptions {
  int64_t max_len = 0;  // longer examples are skipped as too_long; 0: no limit
  bool strict = false;  // any bad record is an error
  int64_t shard_tokens = int64_t{1} << 26;
  bool progress = true;  // a progress bar on stderr
};

struct SkippedRecords {
  int64_t count = 0;
  std::vector<std::string> first;  // the first few, as "file:line" (line: the record number in a .json array)
};

struct DataPrepSummary {
  int64_t records = 0, examples = 0, tokens = 0, loss_tokens = 0;
  std::map<std::string, int64_t> formats;         // examples per record format
  std::map<std::string, SkippedRecords> skipped;  // per reason
  std::map<std::string, int64_t> length_percentiles;  // "p50", "p90", "p99", "max" (tokens per example)
  nlohmann::json to_json() const;
  std::string to_text() const;  // what the command prints
};

// The inputs' examples, in order, into one dataset.
DataPrepSummary prepare_sft_data(const std::vector<std::string>& inputs, const std::string& output_dir,
                                 const ChatEncoder& encode, const DataPrepOptions& options);

}  // namespace stepwise
