// ProgressBar: "\r" redraws on a terminal, periodic plain lines elsewhere.
#include "train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace stepwise {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%lds", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  return buf;
}

ProgressBar::ProgressBar(std::string label, double total, std::FILE* out, double log_interval_s)
    : label_(std::move(label)), total_(total), log_interval_s_(log_interval_s), out_(out), tty_(::isatty(::fileno(out)) == 1),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

std::string ProgressBar::line(double done, const std::string& detail) const {
  const double frac = total_ > 0 ? std::clamp(done / total_, 0.0, 1.0) : 1.0;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar = tty_ ? " [" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "]" : "";
  char pct[64];
  std::snprintf(pct, sizeof pct, " %5.1f%%  %s elapsed", 100 * frac, format_duration(elapsed).c_str());
  std::string eta;
  if (frac > 0 && frac < 1) eta = ", ETA " + format_duration(elapsed * (1 - frac) / frac);
  return label_ + bar + pct + eta + (detail.empty() ? "" : "  " + detail);
}

void ProgressBar::update(double done, const std::string& detail) {
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (since < (tty_ ? 0.1 : log_interval_s_)) return;
  last_ = now;
  if (tty_) std::fprintf(out_, "\r%s\033[K", line(done, detail).c_str());
  else std::fprintf(out_, "%s\n", line(done, detail).c_str());
  std::fflush(out_);
}

void ProgressBar::finish(const std::string& detail) {
  std::fprintf(out_, tty_ ? "\r%s\033[K\n" : "%s\n", line(total_, detail).c_str());
  std::fflush(out_);
}

}  // namespace stepwise
