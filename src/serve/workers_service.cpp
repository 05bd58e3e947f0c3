// Workers handlers: authentication, then the Coordinator.
#include "serve/workers_service.h"

#include <glog/logging.h>

#include "core/status.h"
#include "serve/request_mapping.h"

namespace stepwise::serve {

grpc::Status WorkersService::Register(grpc::ServerContext* context, const v1::RegisterWorkerRequest* request,
                                      v1::RegisterWorkerResponse* response) {
  if (grpc::Status s = state_.auth.check(*context); !s.ok()) return s;
  if (state_.draining) return {grpc::StatusCode::UNAVAILABLE, "the coordinator is shutting down"};
  try {
    *response = state_.coordinator.register_worker(*request);
  } catch (const StatusError& e) {
    LOG(WARNING) << "registration from " << context->peer() << " refused: " << e.what();
    return to_grpc_status(e);
  }
  return grpc::Status::OK;
}

grpc::Status WorkersService::Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                                       v1::HeartbeatResponse*) {
  if (grpc::Status s = state_.auth.check(*context); !s.ok()) return s;
  try {
    state_.coordinator.heartbeat(*request);
  } catch (const StatusError& e) {
    return to_grpc_status(e);
  }
  return grpc::Status::OK;
}

grpc::Status WorkersService::Work(grpc::ServerContext* context,
                                  grpc::ServerReaderWriter<v1::WorkItem, v1::WorkerMessage>* stream) {
  if (grpc::Status s = state_.auth.check(*context); !s.ok()) return s;
  return state_.coordinator.serve_work_stream(*context, *stream);
}

}  // namespace stepwise::serve
