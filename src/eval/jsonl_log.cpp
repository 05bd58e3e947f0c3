// JsonlLog: read back, repair a torn tail, append with fsync. pin_settings.
#include "eval/jsonl_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/status.h"
#include "io/atomic_file.h"
#include "io/os_error.h"

namespace stepwise {

JsonlLog::JsonlLog(std::string path) : path_(std::move(path)) {
  if (!std::filesystem::exists(path_)) return;
  std::ifstream in(path_, std::ios::binary);
  if (!in) fail_os_error("cannot read", path_, errno);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  size_t complete = 0;  // bytes of complete lines
  int64_t line = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = text.find('\n', pos);
    ++line;
    if (end == std::string::npos) {  // unterminated: a cut-off write, whatever it holds
      dropped_ = true;
      break;
    }
    const std::string content = text.substr(pos, end - pos);
    if (content.find_first_not_of(" \t\r") != std::string::npos) {
      try {
        records_.push_back(nlohmann::ordered_json::parse(content));
      } catch (const nlohmann::json::exception& e) {
        fail(StatusCode::kDataLoss, path_, ":", line, ": not a JSON record (", e.what(),
             "); the file was damaged or edited: fix or remove that line");
      }
    }
    pos = end + 1;
    complete = pos;
  }
  if (dropped_ && ::truncate(path_.c_str(), static_cast<off_t>(complete)) != 0)
    fail_os_error("cannot cut off the incomplete last line of", path_, errno);
}

void JsonlLog::append(const std::vector<nlohmann::ordered_json>& records) {
  std::string text;
  for (const auto& r : records) text += r.dump() + "\n";
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) fail_os_error("cannot open for appending", path_, errno);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      fail_os_error("cannot append (complete records are kept; free space and run again) to", path_, err);
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!synced) fail_os_error("cannot fsync", path_, err);
  records_.insert(records_.end(), records.begin(), records.end());
}

void pin_settings(const std::string& path, const nlohmann::ordered_json& settings, const std::string& what_to_do) {
  if (!std::filesystem::exists(path)) {
    write_file_atomic(path, settings.dump(2) + "\n");
    return;
  }
  std::ifstream in(path);
  nlohmann::ordered_json old;
  try {
    old = nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(StatusCode::kDataLoss, path, ": not valid JSON (", e.what(), "); ", what_to_do);
  }
  for (const auto& [key, value] : settings.items())
    if (!old.contains(key) || old[key] != value)
      invalid_argument(path, ": this run's ", key, " is ", value.dump(), ", the earlier run's ",
                       old.contains(key) ? old[key].dump() : std::string("unset"), "; ", what_to_do);
}

}  // namespace stepwise
