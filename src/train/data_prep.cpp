// SFT data preparation: records -> chats -> tokens and loss masks -> token shards, with skip accounting.
#include "train/data_prep.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/status.h"
#include "io/atomic_file.h"
#include "io/token_shards.h"
#include "train/progress.h"
#include "train/sft_records.h"

namespace stepwise {

namespace fs = std::filesystem;

ChatEncoder qwen3_chat_encoder(const ChatTemplate& tmpl) {
  return [&tmpl](const std::vector<ChatMessage>& messages) {
    ChatOptions options;  // thinking kept; no generation prompt: the chat ends with the last assistant turn
    const EncodedChat chat = tmpl.encode(messages, options);
    EncodedExample ex;
    ex.tokens = chat.ids;
    ex.loss_mask.assign(chat.ids.size(), 0);
    for (const CompletionSpan& span : chat.completions)
      if (messages[span.message].role == "assistant")
        std::fill(ex.loss_mask.begin() + static_cast<std::ptrdiff_t>(span.begin),
                  ex.loss_mask.begin() + static_cast<std::ptrdiff_t>(span.end), 1);
    return ex;
  };
}

namespace {

constexpr size_t kFirstPlacesKept = 5;
constexpr size_t kChunk = 256;  // records encoded in parallel at a time

struct RawRecord {
  int64_t line = 0;  // 1-based line (or record number for a .json array)
  std::optional<nlohmann::ordered_json> value;  // empty: the text was not JSON
  std::string parse_error;
};

struct Outcome {
  EncodedExample example;
  std::string format, reason, message;  // reason empty: ok
};

Outcome process(const RawRecord& raw, const ChatEncoder& encode, int64_t max_len) {
  Outcome out;
  try {
    if (!raw.value) throw BadRecord("invalid_json", raw.parse_error);
    SftExample ex = parse_sft_record(*raw.value);
    out.format = ex.format;
    try {
      out.example = encode(ex.messages);
    } catch (const StatusError& e) {  // e.g. a role the template does not know
      throw BadRecord("invalid_messages", e.what());
    }
    const int64_t n = static_cast<int64_t>(out.example.tokens.size());
    if (max_len > 0 && n > max_len)
      throw BadRecord("too_long", std::to_string(n) + " tokens > --max-len " + std::to_string(max_len));
  } catch (const BadRecord& e) {
    out.reason = e.reason();
    out.message = e.what();
  }
  return out;
}

std::string join_places(const std::vector<std::string>& places, int64_t count) {
  std::string s;
  for (const std::string& p : places) s += (s.empty() ? "" : ", ") + p;
  return s + (count > static_cast<int64_t>(places.size()) ? ", ..." : "");
}

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > (n < 0 ? 1 : 0); i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

// Refuses to replace anything but an earlier dataset (or an empty directory).
void check_output_replaceable(const std::string& output) {
  std::error_code ec;
  if (!fs::exists(output, ec)) return;
  if (!fs::is_directory(output, ec))
    invalid_argument("--output ", output, " exists and is not a directory; choose another path");
  if (fs::exists(output + "/dataset.json", ec) || fs::is_empty(output, ec)) return;
  invalid_argument("--output ", output, " exists and is not a token dataset (no dataset.json); choose another ",
                   "directory or remove it");
}

// Moves the finished dataset into place; the previous one is removed only after the new one is there.
void replace_directory(const std::string& tmp, const std::string& output) {
  std::error_code ec;
  const std::string old = output + ".old." + std::to_string(::getpid());
  const bool had_old = fs::exists(output, ec);
  if (had_old) fs::rename(output, old);
  fs::rename(tmp, output);
  fsync_directory(parent_directory(output));
  if (had_old) fs::remove_all(old, ec);
}

class RecordSource {
 public:
  explicit RecordSource(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) fail(StatusCode::kNotFound, "cannot open --input ", path);
    in_.seekg(0, std::ios::end);
    size_ = static_cast<double>(in_.tellg());
    in_.seekg(0);
    char c = 0;
    while (in_.get(c) && std::isspace(static_cast<unsigned char>(c))) {
    }
    in_.clear();
    in_.seekg(0);
    if (c == '[') {  // a .json file holding an array of records
      try {
        array_ = nlohmann::ordered_json::parse(in_);
      } catch (const nlohmann::json::exception& e) {
        invalid_argument(path, ": not valid JSON (", e.what(), "); a .json input must hold one array of records");
      }
    }
  }
  double size() const { return size_; }
  double consumed() const { return array_ ? size_ * static_cast<double>(next_) / std::max<size_t>(1, array_->size())
                                          : static_cast<double>(bytes_); }
  // The next record, or false at the end. Blank lines are skipped.
  bool next(RawRecord* r) {
    if (array_) {
      if (next_ >= array_->size()) return false;
      r->line = static_cast<int64_t>(++next_);
      r->value = std::move((*array_)[next_ - 1]);
      return true;
    }
    std::string text;
    while (std::getline(in_, text)) {
      ++line_;
      bytes_ += text.size() + 1;
      if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
      r->line = line_;
      try {
        r->value = nlohmann::ordered_json::parse(text);
      } catch (const nlohmann::json::exception& e) {
        r->value.reset();
        r->parse_error = std::string("invalid JSON: ") + e.what();
      }
      return true;
    }
    return false;
  }

 private:
  std::string path_;
  std::ifstream in_;
  double size_ = 0;
  std::optional<nlohmann::ordered_json> array_;
  size_t next_ = 0;
  int64_t line_ = 0;
  size_t bytes_ = 0;
};

int64_t percentile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

nlohmann::json DataPrepSummary::to_json() const {
  nlohmann::json skip = nlohmann::json::object();
  for (const auto& [reason, s] : skipped) skip[reason] = {{"count", s.count}, {"first", s.first}};
  return {{"records", records}, {"examples", examples}, {"tokens", tokens}, {"loss_tokens", loss_tokens},
          {"formats", formats}, {"skipped", skip}, {"length_percentiles", length_percentiles}};
}

std::string DataPrepSummary::to_text() const {
  std::ostringstream os;
  os << "  examples: " << with_commas(examples) << " of " << with_commas(records) << " records";
  for (const auto& [format, n] : formats) os << " (" << format << ": " << with_commas(n) << ")";
  char share[32];
  std::snprintf(share, sizeof share, "%.1f%%", tokens ? 100.0 * static_cast<double>(loss_tokens) / tokens : 0.0);
  os << "\n  tokens: " << with_commas(tokens) << ", loss on " << with_commas(loss_tokens) << " (" << share << ")";
  os << "\n  tokens per example:";
  for (const char* p : {"p50", "p90", "p99", "max"})
    if (length_percentiles.count(p)) os << " " << p << " " << length_percentiles.at(p);
  int64_t total_skipped = 0;
  for (const auto& [reason, s] : skipped) total_skipped += s.count;
  os << "\n  skipped: " << with_commas(total_skipped);
  for (const std::string& reason : bad_record_reasons()) {
    const auto it = skipped.find(reason);
    if (it == skipped.end()) continue;
    os << "\n    " << reason << ": " << with_commas(it->second.count) << " (first at "
       << join_places(it->second.first, it->second.count) << ")";
  }
  return os.str();
}

DataPrepSummary prepare_sft_data(const std::vector<std::string>& inputs, const std::string& output_dir,
                                 const ChatEncoder& encode, const DataPrepOptions& options) {
  if (inputs.empty()) invalid_argument("data prepare: no input file");
  check_output_replaceable(output_dir);
  std::error_code ec;
  if (const fs::path parent = fs::path(output_dir).parent_path(); !parent.empty()) fs::create_directories(parent, ec);
  const std::string tmp = output_dir + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec))
    fail(StatusCode::kUnavailable, "cannot create ", tmp, ": ", ec.message());

  DataPrepSummary summary;
  try {
    TokenShardWriter writer(tmp, options.shard_tokens);
    std::vector<int64_t> lengths;
    int32_t vocab_bound = 0;
    for (const std::string& input : inputs) {
      RecordSource source(input);
      const std::string name = fs::path(input).filename().string();
      std::optional<ProgressBar> bar;
      if (options.progress) bar.emplace("data prepare " + name, source.size());
      std::vector<RawRecord> chunk;
      std::vector<Outcome> outcomes;
      bool more = true;
      while (more) {
        chunk.clear();
        RawRecord r;
        while (chunk.size() < kChunk && (more = source.next(&r))) chunk.push_back(std::move(r));
        outcomes.assign(chunk.size(), Outcome());
#pragma omp parallel for schedule(dynamic, 8)
        for (size_t i = 0; i < chunk.size(); ++i) outcomes[i] = process(chunk[i], encode, options.max_len);
        for (size_t i = 0; i < chunk.size(); ++i) {
          const Outcome& o = outcomes[i];
          ++summary.records;
          if (!o.reason.empty()) {
            if (options.strict)
              invalid_argument(input, ":", chunk[i].line, ": ", o.reason, ": ", o.message,
                               " (--strict stops at the first bad record; without it the record is skipped)");
            SkippedRecords& s = summary.skipped[o.reason];
            if (s.first.size() < kFirstPlacesKept) s.first.push_back(name + ":" + std::to_string(chunk[i].line));
            ++s.count;
            continue;
          }
          writer.add(o.example.tokens, o.example.loss_mask);
          ++summary.examples;
          ++summary.formats[o.format];
          summary.tokens += static_cast<int64_t>(o.example.tokens.size());
          summary.loss_tokens += std::count(o.example.loss_mask.begin(), o.example.loss_mask.end(), 1);
          lengths.push_back(static_cast<int64_t>(o.example.tokens.size()));
          vocab_bound = std::max(vocab_bound, *std::max_element(o.example.tokens.begin(), o.example.tokens.end()) + 1);
        }
        if (bar) bar->update(source.consumed(), std::to_string(summary.examples) + " examples");
      }
      if (bar) bar->finish(std::to_string(summary.examples) + " examples");
    }
    if (summary.examples == 0)
      invalid_argument("no usable example in ", summary.records, " records of ", inputs.front(),
                       inputs.size() > 1 ? " and the other inputs" : "", "; nothing written");
    std::sort(lengths.begin(), lengths.end());
    summary.length_percentiles = {{"p50", percentile(lengths, 0.5)}, {"p90", percentile(lengths, 0.9)},
                                  {"p99", percentile(lengths, 0.99)}, {"max", lengths.back()}};
    TokenDatasetIndex index;
    index.shards = writer.finish();
    index.documents = summary.examples;
    index.tokens = summary.tokens;
    index.max_document_length = lengths.back();
    index.vocab_bound = vocab_bound;
    index.summary = summary.to_json();
    index.summary["inputs"] = inputs;
    write_token_dataset_index(tmp, index);
    replace_directory(tmp, output_dir);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return summary;
}

}  // namespace stepwise
