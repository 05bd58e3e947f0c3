// ServerMetrics: counting and the Prometheus exposition format.
#include "serve/metrics.h"

#include <cstdio>

namespace stepwise::serve {

namespace {
std::string number(double v, const char* format = "%.17g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}
void header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}
}  // namespace

void Histogram::observe(double seconds) {
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  ++counts_[i];
  sum_ += seconds;
  ++count_;
}

void Histogram::write(std::string& out, const std::string& name, const std::string& help) const {
  header(out, name, help, "histogram");
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= kBounds.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + (i < kBounds.size() ? number(kBounds[i], "%g") : "+Inf") + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += name + "_sum " + number(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
}

void ServerMetrics::request_started() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++in_flight_;
}

void ServerMetrics::request_refused(const std::string& code) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[code];
}

void ServerMetrics::request_finished(const std::string& code, int64_t prompt_tokens, int64_t completion_tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  --in_flight_;
  ++requests_[code];
  prompt_tokens_ += static_cast<uint64_t>(prompt_tokens);
  completion_tokens_ += static_cast<uint64_t>(completion_tokens);
}

void ServerMetrics::first_token(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ttft_.observe(seconds);
}

void ServerMetrics::inter_token(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  itl_.observe(seconds);
}

std::string ServerMetrics::prometheus_text(const std::vector<ModelSummary>& models,
                                          const std::vector<WorkerSummary>& workers) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  header(out, "stepwise_requests_total", "Generate calls ended, by gRPC status code", "counter");
  for (const auto& [code, n] : requests_)
    out += "stepwise_requests_total{code=\"" + code + "\"} " + std::to_string(n) + "\n";
  header(out, "stepwise_requests_in_flight", "Generate calls being answered", "gauge");
  out += "stepwise_requests_in_flight " + std::to_string(in_flight_) + "\n";
  header(out, "stepwise_prompt_tokens_total", "prompt tokens of ended Generate calls", "counter");
  out += "stepwise_prompt_tokens_total " + std::to_string(prompt_tokens_) + "\n";
  header(out, "stepwise_generated_tokens_total", "tokens generated for ended Generate calls", "counter");
  out += "stepwise_generated_tokens_total " + std::to_string(completion_tokens_) + "\n";
  ttft_.write(out, "stepwise_time_to_first_token_seconds", "from the call's arrival to its first token");
  itl_.write(out, "stepwise_inter_token_latency_seconds", "between consecutive tokens of one sample");
  const std::pair<const char*, int64_t EngineStats::*> gauges[] = {
      {"stepwise_kv_blocks_total", &EngineStats::num_blocks},  {"stepwise_kv_blocks_free", &EngineStats::free_blocks},
      {"stepwise_sequences_running", &EngineStats::running},   {"stepwise_sequences_waiting", &EngineStats::waiting},
      {"stepwise_engine_steps_total", &EngineStats::steps},    {"stepwise_preemptions_total", &EngineStats::preemptions}};
  for (const auto& [name, field] : gauges) {
    header(out, name, "the serving engines' state (engine.h EngineStats), per model, summed over its replicas",
           std::string(name).find("_total") != std::string::npos && std::string(name) != "stepwise_kv_blocks_total"
               ? "counter"
               : "gauge");
    for (const ModelSummary& m : models)
      out += std::string(name) + "{model=\"" + m.model.name() + "\"} " + std::to_string(m.load.*field) + "\n";
  }
  header(out, "stepwise_model_replicas", "worker groups serving each model (any state)", "gauge");
  for (const ModelSummary& m : models)
    out += "stepwise_model_replicas{model=\"" + m.model.name() + "\"} " + std::to_string(m.replicas) + "\n";
  header(out, "stepwise_worker_calls_in_flight", "calls routed to each worker group and not ended", "gauge");
  for (const WorkerSummary& w : workers)
    out += "stepwise_worker_calls_in_flight{model=\"" + w.model + "\",worker=\"" + std::to_string(w.id) + "\"} " +
           std::to_string(w.calls_in_flight) + "\n";
  header(out, "stepwise_worker_calls_total", "calls routed to each worker group since it registered", "counter");
  for (const WorkerSummary& w : workers)
    out += "stepwise_worker_calls_total{model=\"" + w.model + "\",worker=\"" + std::to_string(w.id) + "\"} " +
           std::to_string(w.calls_total) + "\n";
  return out;
}

}  // namespace stepwise::serve
