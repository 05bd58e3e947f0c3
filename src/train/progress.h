// Progress output fit for a terminal and for a log file: on a TTY one line redrawn in place with "\r" (at most
// ten times a second); otherwise (a log file, a pipe) plain lines, at most one per `log_interval_s`, never "\r".
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace stepwise {

// "12s", "3m05s", "1h02m".
std::string format_duration(double seconds);

class ProgressBar {
 public:
  ProgressBar(std::string label, double total, std::FILE* out = stderr, double log_interval_s = 10.0);
  // `done` of `total`; `detail` follows the bar (counts, rates).
  void update(double done, const std::string& detail = "");
  // The final state on its own line.
  void finish(const std::string& detail = "");

 private:
  std::string line(double done, const std::string& detail) const;
  std::string label_;
  double total_, log_interval_s_;
  std::FILE* out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace stepwise
