// LineTail: the lines a growing file (a job's output.log, a run's metrics.jsonl) has gained since the last read.
// Only complete lines, unless `all` (the writer is done): a line being written is never cut in two.
#pragma once

#include <fstream>
#include <string>
#include <vector>

namespace stepwise::serve {

class LineTail {
 public:
  explicit LineTail(std::string path) : path_(std::move(path)) {}
  std::vector<std::string> read(bool all = false) {
    std::vector<std::string> lines;
    std::ifstream in(path_, std::ios::binary);
    if (path_.empty() || !in) return lines;
    in.seekg(offset_);
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof() && !all) break;  // no newline yet
      if (in.eof()) {
        offset_ += static_cast<std::streamoff>(line.size());
      } else {
        offset_ = in.tellg();
      }
      lines.push_back(std::move(line));
    }
    return lines;
  }

 private:
  std::string path_;
  std::streamoff offset_ = 0;
};

}  // namespace stepwise::serve
