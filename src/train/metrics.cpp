// metrics.jsonl writing, truncation on resume, and reading back for the loss plot.
#include "train/metrics.h"

#include <cerrno>
#include <fstream>
#include <sstream>

#include "core/status.h"
#include "io/atomic_file.h"
#include "io/os_error.h"

namespace stepwise {

MetricsLog::MetricsLog(std::string path, int64_t keep_through_step) : path_(std::move(path)) {
  std::ifstream in(path_);
  std::string kept, line;
  while (in && std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("step") && j["step"].is_number_integer() &&
        j["step"].get<int64_t>() <= keep_through_step)
      kept += line + "\n";
  }
  in.close();
  write_file_atomic(path_, kept);
  file_ = std::fopen(path_.c_str(), "a");
  if (!file_) fail_os_error("cannot open", path_, errno);
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::write(const nlohmann::json& record) {
  const std::string line = record.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    fail_os_error("cannot write", path_, errno);
}

LossCurves read_loss_curves(const std::string& metrics_path) {
  LossCurves c;
  std::ifstream in(metrics_path);
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("step")) continue;
    const double step = j["step"].get<double>();
    if (j.contains("loss") && j["loss"].is_number() && !j.value("skipped", false))
      c.train.emplace_back(step, j["loss"].get<double>());
    if (j.contains("eval_loss") && j["eval_loss"].is_number()) c.eval.emplace_back(step, j["eval_loss"].get<double>());
  }
  return c;
}

}  // namespace stepwise
