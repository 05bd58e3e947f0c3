// Append-only JSONL files that survive interruption, for long evaluation and distillation runs: the complete lines
// of an existing file are read back, an incomplete last line (a write cut off by a crash) is dropped, and each
// append is flushed and fsynced before the caller goes on. Also the settings a resumed run must share.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace stepwise {

class JsonlLog {
 public:
  // Opens (creating) `path` and reads its records. A line that is not JSON before the last one is an error
  // (DATA_LOSS naming the line: the file was edited or damaged); an unterminated last line is cut off.
  explicit JsonlLog(std::string path);
  const std::vector<nlohmann::ordered_json>& records() const { return records_; }
  // Appends the records, one line each, then fflush + fsync.
  void append(const std::vector<nlohmann::ordered_json>& records);
  bool dropped_incomplete_line() const { return dropped_; }

 private:
  std::string path_;
  std::vector<nlohmann::ordered_json> records_;
  bool dropped_ = false;
};

// Writes `settings` to `path` (atomically) when it does not exist; otherwise each key must have the same value,
// else INVALID_ARGUMENT naming the key, both values and `what_to_do`.
void pin_settings(const std::string& path, const nlohmann::ordered_json& settings, const std::string& what_to_do);

}  // namespace stepwise
