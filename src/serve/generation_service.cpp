// Generation and Monitoring handlers.
#include "serve/generation_service.h"

#include <glog/logging.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "core/status.h"
#include "serve/request_mapping.h"

namespace stepwise::serve {

namespace {

using Clock = std::chrono::steady_clock;

// Chunks from the engine thread to the call's handler thread. Shared: the engine may deliver a request's last
// (cancelled) chunks after the handler has returned.
class ChunkQueue {
 public:
  void push(const GenerationChunk& c) {
    std::lock_guard<std::mutex> lock(mutex_);
    chunks_.push_back(c);
    ready_.notify_one();
  }
  // The next chunk, or nothing after `wait`.
  std::optional<GenerationChunk> pop(std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!ready_.wait_for(lock, wait, [&] { return !chunks_.empty(); })) return std::nullopt;
    GenerationChunk c = std::move(chunks_.front());
    chunks_.pop_front();
    return c;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<GenerationChunk> chunks_;
};

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

ServedModel& ServiceState::find_model(const std::string& name) {
  std::string known;
  for (const auto& m : models) {
    if (m->name == name) return *m;
    known += (known.empty() ? "" : ", ") + m->name;
  }
  if (name.empty()) {
    if (models.size() == 1) return *models.front();
    invalid_argument("model: this server serves several models (", known, "); name one");
  }
  fail(StatusCode::kNotFound, "model '", name, "' is not served here; served: ", known);
}

grpc::Status GenerationService::Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                                         grpc::ServerWriter<v1::GenerateResponse>* writer) {
  // Calls refused before they reach the engine are counted by their status too.
  auto refuse = [&](const grpc::Status& status) {
    state_.metrics.request_refused(grpc_code_name(status.error_code()));
    return status;
  };
  if (grpc::Status s = state_.auth.check(*context); !s.ok()) return refuse(s);
  if (state_.draining)
    return refuse({grpc::StatusCode::UNAVAILABLE, "the server is shutting down; try another replica"});
  const Clock::time_point arrival = Clock::now();
  ServedModel* model = nullptr;
  GenerationRequest engine_request;
  try {
    model = &state_.find_model(request->model());
    engine_request = to_generation_request(*request, *model);
  } catch (const StatusError& e) {
    return refuse(to_grpc_status(e));
  }
  if (static_cast<int64_t>(model->engine->active_requests().size()) >= state_.max_queued)
    return refuse({grpc::StatusCode::RESOURCE_EXHAUSTED,
                   "model '" + model->name + "' has " + std::to_string(state_.max_queued) +
                       " requests in flight (--max-queued); retry later"});

  auto queue = std::make_shared<ChunkQueue>();
  uint64_t id = 0;
  try {
    id = model->engine->submit(engine_request, [queue](const GenerationChunk& c) { queue->push(c); });
  } catch (const StatusError& e) {
    return refuse(to_grpc_status(e));
  }
  state_.metrics.request_started();
  VLOG(1) << "request " << id << " (" << context->peer() << "): model '" << model->name << "', "
          << engine_request.prompt.size() << " prompt tokens, n " << engine_request.n;

  int64_t open = engine_request.n, completion = 0;
  std::vector<Clock::time_point> last(static_cast<size_t>(engine_request.n), arrival);
  std::vector<bool> started(static_cast<size_t>(engine_request.n), false);
  auto end = [&](const grpc::Status& status) {
    // Counted before the cancellation frees the blocks: whoever sees the blocks free sees the call counted.
    state_.metrics.request_finished(status.ok() ? "OK" : grpc_code_name(status.error_code()),
                                    static_cast<int64_t>(engine_request.prompt.size()), completion);
    if (!status.ok()) model->engine->cancel(id);
    VLOG(1) << "request " << id << " ended: " << (status.ok() ? "OK" : status.error_message());
    return status;
  };
  while (open > 0) {
    const std::optional<GenerationChunk> chunk = queue->pop(kPoll);
    if (!chunk) {
      if (context->IsCancelled()) return end(ended_by_client(*context));
      continue;
    }
    const Clock::time_point now = Clock::now();
    const size_t i = static_cast<size_t>(chunk->index);
    if (!chunk->token_ids.empty()) {
      if (!started[i]) state_.metrics.first_token(std::chrono::duration<double>(now - arrival).count());
      else state_.metrics.inter_token(std::chrono::duration<double>(now - last[i]).count());
      started[i] = true;
      last[i] = now;
    }
    completion += static_cast<int64_t>(chunk->token_ids.size());
    if (chunk->finish == FinishReason::kError)
      return end({grpc::StatusCode::INTERNAL, "generation failed: " + chunk->error});
    v1::GenerateResponse response;
    fill_response(*chunk, &response);
    if (!writer->Write(response)) return end(ended_by_client(*context));
    if (chunk->finish != FinishReason::kNone) --open;
  }
  return end(grpc::Status::OK);
}

grpc::Status GenerationService::ListModels(grpc::ServerContext* context, const v1::ListModelsRequest*,
                                           v1::ListModelsResponse* response) {
  if (grpc::Status s = state_.auth.check(*context); !s.ok()) return s;
  for (const auto& m : state_.models) {
    v1::ModelInfo* info = response->add_models();
    info->set_name(m->name);
    info->set_tp_size(m->model->tp().size());
    info->set_context_length(static_cast<int32_t>(m->model->config().max_position_embeddings));
    info->set_replicas(1);
    info->set_state("ready");
  }
  return grpc::Status::OK;
}

grpc::Status GenerationService::Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                                         v1::TokenizeResponse* response) {
  if (grpc::Status s = state_.auth.check(*context); !s.ok()) return s;
  try {
    ServedModel& model = state_.find_model(request->model());
    if (!model.tokenizer) invalid_argument("model '", model.name, "' is served without a tokenizer");
    if (!request->text().empty() && request->messages_size() > 0)
      invalid_argument("several inputs: give text or messages, not both");
    std::vector<int32_t> ids;
    if (request->messages_size() > 0) {
      if (!model.chat) invalid_argument("messages: model '", model.name, "' has no chat template");
      ChatOptions options;
      options.add_generation_prompt = true;
      options.enable_thinking = !request->has_enable_thinking() || request->enable_thinking();
      EncodedChat chat;
      try {
        chat = model.chat->encode(to_chat_messages(request->messages()), options);
      } catch (const StatusError& e) {
        throw e.with_context("messages");
      }
      ids = chat.ids;
      response->set_text(chat.text);
    } else {
      try {
        ids = model.tokenizer->encode(request->text());
      } catch (const StatusError& e) {
        throw e.with_context("text");
      }
      response->set_text(request->text());
    }
    for (int32_t id : ids) response->add_token_ids(id);
  } catch (const StatusError& e) {
    return to_grpc_status(e);
  }
  return grpc::Status::OK;
}

grpc::Status MonitoringService::GetMetrics(grpc::ServerContext* context, const v1::GetMetricsRequest*,
                                           v1::GetMetricsResponse* response) {
  if (grpc::Status s = state_.auth.check(*context); !s.ok()) return s;
  std::map<std::string, EngineStats> engines;
  for (const auto& m : state_.models) engines[m->name] = m->engine->stats();
  response->set_text(state_.metrics.prometheus_text(engines));
  return grpc::Status::OK;
}

}  // namespace stepwise::serve
