// The Generation and Monitoring services of proto/stepwise/v1 (gRPC's synchronous API: one handler thread per
// call) over the worker groups of the Coordinator. A Generate call goes to the least loaded ready replica of its
// model and streams its chunks as they come; the call's cancellation, deadline or a failed write cancels the
// request in the group's engine (its KV blocks are freed at the next step); a group that is dropped ends it with
// UNAVAILABLE.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "serve/auth.h"
#include "serve/coordinator.h"
#include "serve/metrics.h"
#include "stepwise/v1/generation.grpc.pb.h"
#include "stepwise/v1/monitoring.grpc.pb.h"

namespace stepwise::serve {

struct ServiceState {
  explicit ServiceState(const CoordinatorOptions& options) : coordinator(options) {}
  Coordinator coordinator;
  BearerAuth auth;
  ServerMetrics metrics;
  std::atomic<bool> draining{false};  // shutting down: new calls are UNAVAILABLE
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
