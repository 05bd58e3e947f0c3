// The Generation and Monitoring services of proto/stepwise/v1 (gRPC's synchronous API: one handler thread per
// call) over the models this process serves. A Generate call submits one engine request and streams its chunks as
// they come; the call's cancellation, deadline or a failed write cancels the request in the engine (its KV blocks
// are freed at the next step).
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "serve/auth.h"
#include "serve/metrics.h"
#include "serve/served_model.h"
#include "stepwise/v1/generation.grpc.pb.h"
#include "stepwise/v1/monitoring.grpc.pb.h"

namespace stepwise::serve {

struct ServiceState {
  std::vector<std::unique_ptr<ServedModel>> models;
  BearerAuth auth;
  ServerMetrics metrics;
  int64_t max_queued = 256;        // requests in flight per model before RESOURCE_EXHAUSTED
  std::atomic<bool> draining{false};  // shutting down: new calls are UNAVAILABLE

  // NOT_FOUND naming the known models; empty: the only model (INVALID_ARGUMENT when there are several).
  ServedModel& find_model(const std::string& name);
};

class GenerationService final : public v1::Generation::Service {
 public:
  explicit GenerationService(ServiceState& state) : state_(state) {}
  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override;

 private:
  ServiceState& state_;
};

class MonitoringService final : public v1::Monitoring::Service {
 public:
  explicit MonitoringService(ServiceState& state) : state_(state) {}
  grpc::Status GetMetrics(grpc::ServerContext* context, const v1::GetMetricsRequest* request,
                          v1::GetMetricsResponse* response) override;

 private:
  ServiceState& state_;
};

}  // namespace stepwise::serve
