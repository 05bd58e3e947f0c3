// Generation and Monitoring handlers: calls routed to worker groups through the Coordinator.
#include "serve/generation_service.h"

#include <glog/logging.h>

#include <chrono>
#include <map>
#include <optional>

#include "core/status.h"
#include "serve/request_mapping.h"

namespace stepwise::serve {

namespace {

using Clock = std::chrono::steady_clock;

// How often a waiting handler looks at its call's cancellation and deadline.
constexpr std::chrono::milliseconds kPoll(50);

// Why a call's stream ended on the client's side: its deadline (gRPC fires it on time, within the timer's
// resolution), else a cancellation or a client gone.
grpc::Status ended_by_client(const grpc::ServerContext& context) {
  if (std::chrono::system_clock::now() + std::chrono::milliseconds(5) >= context.deadline())
    return {grpc::StatusCode::DEADLINE_EXCEEDED, "the call's deadline passed"};
  return grpc::Status::CANCELLED;
}

}  // namespace

grpc::Status GenerationService::Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                                         grpc::ServerWriter<v1::GenerateResponse>* writer) {
  // Calls refused before they reach a worker group are counted by their status too.
  auto refuse = [&](const grpc::Status& status) {
    state_.metrics.request_refused(grpc_code_name(status.error_code()));
    return status;
  };
  if (grpc::Status s = state_.auth.check(*context); !s.ok()) return refuse(s);
  if (state_.draining)
    return refuse({grpc::StatusCode::UNAVAILABLE, "the server is shutting down; try another replica"});
  const Clock::time_point arrival = Clock::now();
  v1::WorkItem item;
  *item.mutable_generate() = *request;
  RoutedCall call;
  try {
    call = state_.coordinator.route(request->model(), std::move(item));
  } catch (const StatusError& e) {
    return refuse(to_grpc_status(e));
  }
  state_.metrics.request_started();
  VLOG(1) << "call " << call.call_id << " (" << context->peer() << "): model '" << request->model()
          << "', worker group " << call.worker_id;

  int64_t prompt = 0, completion = 0;
  std::map<int32_t, Clock::time_point> last;  // by sample: its latest token's arrival
  auto end = [&](const grpc::Status& status, bool cancel) {
    // Counted before the cancellation frees the blocks: whoever sees the blocks free sees the call counted.
    state_.metrics.request_finished(status.ok() ? "OK" : grpc_code_name(status.error_code()), prompt, completion);
    state_.coordinator.release(call, cancel);
    VLOG(1) << "call " << call.call_id << " ended: " << (status.ok() ? "OK" : status.error_message());
    return status;
  };
  while (true) {
    std::optional<v1::WorkResult> result = call.inbox->pop(kPoll);
    if (!result) {
      if (context->IsCancelled()) return end(ended_by_client(*context), true);
      continue;
    }
    if (result->has_end())
      return end({static_cast<grpc::StatusCode>(result->end().code()), result->end().message()}, false);
    if (!result->has_chunk()) continue;
    const v1::GenerateResponse& chunk = result->chunk();
    const Clock::time_point now = Clock::now();
    if (chunk.token_ids_size() > 0) {
      auto [at, first] = last.try_emplace(chunk.index(), now);
      if (first) state_.metrics.first_token(std::chrono::duration<double>(now - arrival).count());
      else state_.metrics.inter_token(std::chrono::duration<double>(now - at->second).count());
      at->second = now;
    }
    completion += chunk.token_ids_size();
    if (chunk.has_usage()) prompt = chunk.usage().prompt_tokens();
    if (!writer->Write(chunk)) return end(ended_by_client(*context), true);
  }
}

grpc::Status GenerationService::ListModels(grpc::ServerContext* context, const v1::ListModelsRequest*,
                                           v1::ListModelsResponse* response) {
  if (grpc::Status s = state_.auth.check(*context); !s.ok()) return s;
  for (const ModelSummary& m : state_.coordinator.models()) {
    v1::ModelInfo* info = response->add_models();
    info->set_name(m.model.name());
    info->set_tp_size(m.model.tp_size());
    info->set_context_length(m.model.context_length());
    info->set_replicas(m.replicas);
    info->set_state(m.state);
  }
  return grpc::Status::OK;
}

grpc::Status GenerationService::Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                                         v1::TokenizeResponse* response) {
  if (grpc::Status s = state_.auth.check(*context); !s.ok()) return s;
  v1::WorkItem item;
  *item.mutable_tokenize() = *request;
  RoutedCall call;
  try {
    call = state_.coordinator.route(request->model(), std::move(item));
  } catch (const StatusError& e) {
    return to_grpc_status(e);
  }
  while (true) {
    std::optional<v1::WorkResult> result = call.inbox->pop(kPoll);
    if (!result) {
      if (!context->IsCancelled()) continue;
      state_.coordinator.release(call, true);
      return ended_by_client(*context);
    }
    if (result->has_tokenized()) *response = result->tokenized();
    if (result->has_end()) {
      state_.coordinator.release(call, false);
      return {static_cast<grpc::StatusCode>(result->end().code()), result->end().message()};
    }
  }
}

grpc::Status MonitoringService::GetMetrics(grpc::ServerContext* context, const v1::GetMetricsRequest*,
                                           v1::GetMetricsResponse* response) {
  if (grpc::Status s = state_.auth.check(*context); !s.ok()) return s;
  response->set_text(state_.metrics.prometheus_text(state_.coordinator.models(), state_.coordinator.workers()));
  return grpc::Status::OK;
}

}  // namespace stepwise::serve
