// Worker: registration, heartbeats, the Work stream, reconnection.
#include "serve/worker.h"

#include <glog/logging.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <map>

#include "core/status.h"
#include "io/hf_config.h"
#include "serve/request_mapping.h"

namespace stepwise::serve {

namespace {

using Clock = std::chrono::steady_clock;

std::string host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0) return "unknown-host";
  return buffer;
}

v1::WorkerLoad to_load(const EngineStats& s) {
  v1::WorkerLoad l;
  l.set_kv_blocks_total(s.num_blocks);
  l.set_kv_blocks_free(s.free_blocks);
  l.set_block_size(s.block_size);
  l.set_running(s.running);
  l.set_waiting(s.waiting);
  l.set_requests(s.requests);
  l.set_steps(s.steps);
  l.set_preemptions(s.preemptions);
  return l;
}

}  // namespace

v1::RegisterWorkerRequest worker_registration(const std::string& dir, const std::string& name, int tp_size) {
  const Qwen3Config config = load_qwen3_config(dir + "/config.json");
  v1::RegisterWorkerRequest r;
  r.mutable_model()->set_name(served_model_name(dir, name));
  r.mutable_model()->set_tp_size(tp_size);
  r.mutable_model()->set_context_length(static_cast<int32_t>(config.max_position_embeddings));
  r.mutable_model()->set_vocab_size(static_cast<int32_t>(config.vocab_size));
  r.set_host(host_name());
  r.set_pid(static_cast<int32_t>(getpid()));
  r.set_model_dir(std::filesystem::absolute(dir).lexically_normal().string());
  return r;
}

// One registration's Work stream and the calls on it. Engine sinks hold it (shared) until their requests end.
struct Worker::Session {
  uint64_t worker_id = 0;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::WorkItem>> stream;

  struct Call {
    uint64_t engine_id = 0;
    int64_t open = 0;  // samples not finished
  };
  std::mutex mutex;
  // The writer waits on `outbox_ready`, woken once per batch (when it is idle and the queue was empty) and after the
  // lock is released: the engine thread delivers a step's chunks without being preempted for each one.
  std::condition_variable outbox_ready;
  std::condition_variable changed;  // every call ended, closing, heartbeat wanted
  std::deque<v1::WorkResult> outbox;
  std::map<uint64_t, Call> calls;  // by the coordinator's call id
  bool closed = false;             // the stream ended: results are dropped
  bool writing = false;            // the writer has taken results out of the outbox and writes them
  bool finishing = false;          // stop(): the writer sends what is queued, then closes its side
  bool heartbeat_now = false;

  // Queues a result; true when the writer must be woken (call wake_writer() after unlocking).
  bool push_locked(v1::WorkResult r) {
    if (closed) return false;
    const bool wake = outbox.empty() && !writing;
    outbox.push_back(std::move(r));
    return wake;
  }
  bool end_locked(uint64_t call_id, grpc::StatusCode code, const std::string& message) {
    v1::WorkResult r;
    r.set_call_id(call_id);
    r.mutable_end()->set_code(static_cast<int32_t>(code));
    r.mutable_end()->set_message(message);
    const bool wake = push_locked(std::move(r));
    calls.erase(call_id);
    if (calls.empty()) changed.notify_all();  // drain() waits for it
    return wake;
  }
  void wake_writer(bool wake) {
    if (wake) outbox_ready.notify_one();
  }
  void end(uint64_t call_id, const grpc::Status& status) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mutex);
      wake = end_locked(call_id, status.error_code(), status.error_message());
    }
    wake_writer(wake);
  }
  // The engine's chunk of call `call_id`: forwarded; the call ends when its last sample does.
  void deliver(uint64_t call_id, const GenerationChunk& chunk) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = calls.find(call_id);
      if (it == calls.end()) return;  // cancelled, or ended by an error
      if (chunk.finish == FinishReason::kError) {
        wake = end_locked(call_id, grpc::StatusCode::INTERNAL, "generation failed: " + chunk.error);
      } else {
        v1::WorkResult r;
        r.set_call_id(call_id);
        fill_response(chunk, r.mutable_chunk());
        wake = push_locked(std::move(r));
        if (chunk.finish != FinishReason::kNone && --it->second.open == 0)
          wake = end_locked(call_id, grpc::StatusCode::OK, "") || wake;
      }
    }
    wake_writer(wake);
  }
  // Waits (at most `limit`) until what is queued is written, or the stream ended.
  void wait_for_flush(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!((outbox.empty() && !writing) || closed) && Clock::now() < deadline)
      changed.wait_for(lock, std::chrono::milliseconds(5));  // the writer does not signal each write
  }
};

Worker::Worker(CoordinatorChannel coordinator, v1::RegisterWorkerRequest registration)
    : coordinator_(std::move(coordinator)),
      stub_(v1::Workers::NewStub(coordinator_.channel)),
      registration_(std::move(registration)) {
  state_ = v1::WORKER_STATE_LOADING;
}

Worker::~Worker() { stop(); }

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::set_ready(ServedModel& model) {
  model_ = &model;
  state_ = v1::WORKER_STATE_READY;
  std::lock_guard<std::mutex> lock(mutex_);
  if (session_) {
    std::lock_guard<std::mutex> session_lock(session_->mutex);
    session_->heartbeat_now = true;
    session_->changed.notify_all();
  }
}

void Worker::add_auth(grpc::ClientContext& context) const {
  if (!coordinator_.bearer_token.empty()) context.AddMetadata("authorization", "Bearer " + coordinator_.bearer_token);
}

std::string Worker::failure() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failure_;
}

bool Worker::wait_unless_stopped(std::chrono::milliseconds duration) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !wake_.wait_for(lock, duration, [&] { return stop_; });
}

void Worker::run() {
  int failures = 0;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
    }
    grpc::ClientContext context;
    add_auth(context);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::RegisterWorkerResponse response;
    const grpc::Status status = stub_->Register(&context, registration_, &response);
    const grpc::StatusCode code = status.error_code();
    if (code == grpc::StatusCode::UNAUTHENTICATED || code == grpc::StatusCode::PERMISSION_DENIED ||
        code == grpc::StatusCode::FAILED_PRECONDITION || code == grpc::StatusCode::INVALID_ARGUMENT) {
      // Asking again will not help: the group ends, saying why.
      std::lock_guard<std::mutex> lock(mutex_);
      failure_ = "coordinator " + coordinator_.address + " refused the worker group of model '" +
                 registration_.model().name() + "': " + status.error_message();
      wake_.notify_all();
      return;
    }
    if (!status.ok()) {
      // Every 30 s while the coordinator cannot be reached (it may start after the workers, or restart).
      if (failures++ % 30 == 0)
        LOG(WARNING) << "coordinator " << coordinator_.address << " refused or did not answer the registration of "
                     << "model '" << registration_.model().name() << "': " << status.error_message()
                     << " (gRPC status " << status.error_code() << "); retrying every second";
      wait_unless_stopped(std::chrono::seconds(1));
      continue;
    }
    failures = 0;
    LOG(INFO) << "registered with coordinator " << coordinator_.address << " as worker group "
              << response.worker_id() << " (model '" << registration_.model().name() << "')";
    run_session(response.worker_id(), response.heartbeat_ms());
    wait_unless_stopped(std::chrono::seconds(1));
  }
}

void Worker::run_session(uint64_t worker_id, int heartbeat_ms) {
  auto session = std::make_shared<Session>();
  Session& s = *session;
  s.worker_id = worker_id;
  add_auth(s.context);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_) return;
    session_ = session;
    s.stream = stub_->Work(&s.context);
  }
  v1::WorkerMessage hello;
  hello.set_worker_id(worker_id);
  std::thread writer, beats;
  if (s.stream->Write(hello)) {
    connected_ = true;
    writer = std::thread([&s] {
      std::unique_lock<std::mutex> lock(s.mutex);
      while (true) {
        s.outbox_ready.wait(lock, [&] { return !s.outbox.empty() || s.closed || s.finishing; });
        if (s.closed) return;
        if (s.outbox.empty()) {  // finishing: the coordinator sees the stream end and drops the group at once
          s.stream->WritesDone();
          return;
        }
        v1::WorkerMessage message;
        while (!s.outbox.empty()) {
          *message.add_results() = std::move(s.outbox.front());
          s.outbox.pop_front();
        }
        s.writing = true;
        lock.unlock();
        const bool written = s.stream->Write(message);
        lock.lock();
        s.writing = false;
        if (!written) {
          s.context.TryCancel();  // the reader sees the end
          return;
        }
      }
    });
    beats = std::thread([this, &s, heartbeat_ms] { heartbeats(s, heartbeat_ms); });
    v1::WorkItem item;
    while (s.stream->Read(&item)) handle(s, session, item);
  }
  connected_ = false;
  std::vector<uint64_t> engine_ids;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.closed = true;
    for (const auto& [call, c] : s.calls) engine_ids.push_back(c.engine_id);
    s.calls.clear();
    s.changed.notify_all();
    s.outbox_ready.notify_all();
  }
  if (ServedModel* m = model_)
    for (uint64_t id : engine_ids) m->engine->cancel(id);
  if (writer.joinable()) writer.join();
  if (beats.joinable()) beats.join();
  s.context.TryCancel();
  const grpc::Status status = s.stream->Finish();
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    session_.reset();
    stopping = stop_;
  }
  wake_.notify_all();
  if (!stopping)
    LOG(WARNING) << "the Work stream to coordinator " << coordinator_.address << " ended ("
                 << (status.ok() ? "closed" : status.error_message()) << "); " << engine_ids.size()
                 << " calls cancelled; registering again";
}

void Worker::heartbeats(Session& s, int heartbeat_ms) {
  int failures = 0;
  bool first = true;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(s.mutex);
      if (!first)
        s.changed.wait_for(lock, std::chrono::milliseconds(heartbeat_ms), [&] { return s.closed || s.heartbeat_now; });
      first = false;
      if (s.closed) return;
      s.heartbeat_now = false;
    }
    v1::HeartbeatRequest request;
    request.set_worker_id(s.worker_id);
    request.set_state(static_cast<v1::WorkerState>(state_.load()));
    if (ServedModel* m = model_) *request.mutable_load() = to_load(m->engine->stats());
    grpc::ClientContext context;
    add_auth(context);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(std::max(heartbeat_ms, 1000)));
    v1::HeartbeatResponse response;
    const grpc::Status status = stub_->Heartbeat(&context, request, &response);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      LOG(WARNING) << "coordinator " << coordinator_.address << ": " << status.error_message();
      s.context.TryCancel();  // ends the session; run() registers again
      return;
    }
    if (!status.ok() && failures++ % 10 == 0)
      LOG(WARNING) << "heartbeat to coordinator " << coordinator_.address << " failed: " << status.error_message();
    if (status.ok()) failures = 0;
  }
}

void Worker::handle(Session& s, const std::shared_ptr<Session>& shared, const v1::WorkItem& item) {
  const uint64_t call_id = item.call_id();
  ServedModel* m = model_;
  if (item.has_cancel()) {
    uint64_t engine_id = 0;
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      auto it = s.calls.find(call_id);
      if (it == s.calls.end()) return;
      engine_id = it->second.engine_id;
      s.calls.erase(it);  // nothing more is sent for it
      if (s.calls.empty()) s.changed.notify_all();
    }
    if (m != nullptr) m->engine->cancel(engine_id);
    VLOG(1) << "call " << call_id << " cancelled by the coordinator";
    return;
  }
  auto refuse = [&](const grpc::Status& status) { s.end(call_id, status); };
  if (m == nullptr || state_ != v1::WORKER_STATE_READY)
    return refuse({grpc::StatusCode::UNAVAILABLE, "worker group for model '" + registration_.model().name() +
                                                      "' is " + (m == nullptr ? "loading" : "draining") + "; retry"});
  try {
    if (item.has_tokenize()) {
      v1::WorkResult result;
      result.set_call_id(call_id);
      *result.mutable_tokenized() = tokenize(item.tokenize(), *m);
      bool wake;
      {
        std::lock_guard<std::mutex> lock(s.mutex);
        wake = s.push_locked(std::move(result));
      }
      s.wake_writer(wake);
      s.end(call_id, grpc::Status::OK);
      return;
    }
    if (!item.has_generate()) return refuse({grpc::StatusCode::INVALID_ARGUMENT, "a work item with no work"});
    const GenerationRequest request = to_generation_request(item.generate(), *m);
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      s.calls[call_id] = Session::Call{0, request.n};
    }
    const uint64_t engine_id =
        m->engine->submit(request, [shared, call_id](const GenerationChunk& c) { shared->deliver(call_id, c); });
    std::lock_guard<std::mutex> lock(s.mutex);
    if (auto it = s.calls.find(call_id); it != s.calls.end()) it->second.engine_id = engine_id;
    VLOG(1) << "call " << call_id << ": engine request " << engine_id << ", " << request.prompt.size()
            << " prompt tokens, n " << request.n;
  } catch (const StatusError& e) {
    refuse(to_grpc_status(e));
  }
}

void Worker::drain(double seconds) {
  state_ = v1::WORKER_STATE_DRAINING;
  std::shared_ptr<Session> s;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    s = session_;
  }
  if (!s) return;
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  std::unique_lock<std::mutex> lock(s->mutex);
  s->heartbeat_now = true;
  s->changed.notify_all();
  s->changed.wait_until(lock, deadline, [&] { return s->calls.empty() || s->closed; });
  std::vector<uint64_t> engine_ids;
  for (const auto& [call, c] : s->calls) engine_ids.push_back(c.engine_id);
  lock.unlock();
  // Cancelled samples end with finish_reason "cancelled", and their calls with it.
  if (ServedModel* m = model_)
    for (uint64_t id : engine_ids) m->engine->cancel(id);
  lock.lock();
  s->changed.wait_for(lock, std::chrono::seconds(5), [&] { return s->calls.empty() || s->closed; });
  s->wait_for_flush(lock, std::chrono::seconds(5));
}

void Worker::stop() {
  std::shared_ptr<Session> s;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    s = session_;
  }
  wake_.notify_all();
  if (s) {
    {
      // What is queued goes out first (the ends of drained calls), then the stream closes in order.
      std::lock_guard<std::mutex> lock(s->mutex);
      s->finishing = true;
      s->outbox_ready.notify_all();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (!wake_.wait_for(lock, std::chrono::seconds(3), [&] { return session_ != s; })) s->context.TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace stepwise::serve
