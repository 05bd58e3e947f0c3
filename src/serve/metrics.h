// ServerMetrics: what a stepwise server counts, in the Prometheus text format (GetMetrics): requests by outcome,
// prompt and generated tokens, requests in flight, time to first token and inter-token latency histograms, and
// the engines' KV blocks and queues, and the calls of each worker group. Thread-safe: every RPC handler records into it.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "serve/coordinator.h"

namespace stepwise::serve {

class Histogram {
 public:
  void observe(double seconds);
  // Appends the _bucket, _sum and _count lines of `name`.
  void write(std::string& out, const std::string& name, const std::string& help) const;

 private:
  static constexpr std::array<double, 12> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,   0.25,   0.5,   1.0,  2.5,   10.0};
  std::array<uint64_t, kBounds.size() + 1> counts_{};  // the last: +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class ServerMetrics {
 public:
  void request_started();
  // A call refused before it reached the engine (not counted in flight).
  void request_refused(const std::string& code);
  // `code`: the gRPC status name the request ended with ("OK", "CANCELLED", ...).
  void request_finished(const std::string& code, int64_t prompt_tokens, int64_t completion_tokens);
  void first_token(double seconds);
  void inter_token(double seconds);
  // Every metric, with the engines' state of each served model (summed over its replicas) and each worker group's
  // calls.
  std::string prometheus_text(const std::vector<ModelSummary>& models, const std::vector<WorkerSummary>& workers) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t> requests_;  // by status code
  uint64_t in_flight_ = 0, prompt_tokens_ = 0, completion_tokens_ = 0;
  Histogram ttft_, itl_;
};

}  // namespace stepwise::serve
