// The Workers service of proto/stepwise/v1/workers.proto: worker groups register, heartbeat and carry their calls
// over the Work stream, all through the server's Coordinator; the bearer token, when the server has one, is
// required here as everywhere.
#pragma once

#include "serve/generation_service.h"
#include "stepwise/v1/workers.grpc.pb.h"

namespace stepwise::serve {

class WorkersService final : public v1::Workers::Service {
 public:
  explicit WorkersService(ServiceState& state) : state_(state) {}
  grpc::Status Register(grpc::ServerContext* context, const v1::RegisterWorkerRequest* request,
                        v1::RegisterWorkerResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status Work(grpc::ServerContext* context,
                    grpc::ServerReaderWriter<v1::WorkItem, v1::WorkerMessage>* stream) override;

 private:
  ServiceState& state_;
};

}  // namespace stepwise::serve
