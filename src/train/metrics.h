// metrics.jsonl in the run directory: one JSON object per line, written as the run goes (flushed per line).
//   training:   {"step", "total_steps", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s", "skipped"}
//   evaluation: {"step", "eval_loss", "eval_tokens"}
// On resume the records after the checkpoint's step are dropped (they are about to be recomputed).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace stepwise {

class MetricsLog {
 public:
  // Opens `path` for appending after dropping every record whose step is > keep_through_step (-1: drop all).
  MetricsLog(std::string path, int64_t keep_through_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  void write(const nlohmann::json& record);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

struct LossCurves {
  std::vector<std::pair<double, double>> train, eval;  // (step, loss)
};
// The curves of a metrics.jsonl (lines that do not parse are ignored: a crash may have cut the last one).
LossCurves read_loss_curves(const std::string& metrics_path);

}  // namespace stepwise
