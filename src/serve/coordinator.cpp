// Coordinator: registration, heartbeats, routing, and dropping groups that are gone.
#include "serve/coordinator.h"

#include <glog/logging.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "core/status.h"

namespace stepwise::serve {

namespace {

using Clock = std::chrono::steady_clock;

v1::WorkResult call_end(uint64_t call_id, grpc::StatusCode code, const std::string& message) {
  v1::WorkResult r;
  r.set_call_id(call_id);
  r.mutable_end()->set_code(static_cast<int32_t>(code));
  r.mutable_end()->set_message(message);
  return r;
}

const char* state_name(v1::WorkerState s) {
  switch (s) {
    case v1::WORKER_STATE_READY: return "ready";
    case v1::WORKER_STATE_DRAINING: return "draining";
    default: return "loading";
  }
}

}  // namespace

void CallInbox::push(v1::WorkResult result) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    results_.push_back(std::move(result));
  }
  ready_.notify_one();  // after unlocking: the woken handler does not block on the lock at once
}

std::optional<v1::WorkResult> CallInbox::pop(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!ready_.wait_for(lock, wait, [&] { return !results_.empty(); })) return std::nullopt;
  v1::WorkResult r = std::move(results_.front());
  results_.pop_front();
  return r;
}

struct Coordinator::Worker {
  uint64_t id = 0;
  v1::RegisterWorkerRequest registration;
  v1::WorkerState state = v1::WORKER_STATE_LOADING;
  EngineStats load;
  Clock::time_point last_heard;
  uint64_t last_routed = 0;  // routing order, to spread ties
  int64_t routed = 0;
  std::set<uint64_t> calls;  // routed, not released
  bool attached = false;     // its Work stream is open (under the coordinator's mutex_: routing looks at it)
  // The Work stream, null until it opens and after it ends. `write_mutex` keeps one Write at a time (and the
  // stream alive while one runs); `context_mutex` guards only the context, so that a drop can cancel a Write that
  // blocks on a group that stopped reading.
  std::mutex write_mutex, context_mutex;
  WorkStream* stream = nullptr;
  grpc::ServerContext* context = nullptr;

  // Calls may go to it: it says it is ready and its stream is open. Under the coordinator's mutex_.
  bool routable() const { return state == v1::WORKER_STATE_READY && attached; }
  std::string describe() const {
    return "worker group " + std::to_string(id) + " (model '" + registration.model().name() + "', " +
           registration.host() + " pid " + std::to_string(registration.pid()) + ")";
  }
  // False when the stream is gone or broken (the reader then drops the group).
  bool write(const v1::WorkItem& item) {
    std::lock_guard<std::mutex> lock(write_mutex);
    return stream != nullptr && stream->Write(item);
  }
};

Coordinator::Coordinator(const CoordinatorOptions& options) : options_(options) {
  reaper_ = std::thread([this] { reap(); });
}

Coordinator::~Coordinator() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  reaper_.join();
}

int Coordinator::heartbeat_ms() const {
  return std::max(50, static_cast<int>(options_.worker_timeout_s * 1000 / 5));
}

v1::RegisterWorkerResponse Coordinator::register_worker(const v1::RegisterWorkerRequest& request) {
  const v1::WorkerModel& m = request.model();
  if (m.name().empty()) invalid_argument("model.name: a worker group must name its model");
  if (m.tp_size() < 1 || m.context_length() < 1 || m.vocab_size() < 1)
    invalid_argument("model: tp_size, context_length and vocab_size must be positive (got ", m.tp_size(), ", ",
                     m.context_length(), ", ", m.vocab_size(), ")");
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [id, w] : workers_) {
    const v1::WorkerModel& other = w->registration.model();
    if (other.name() == m.name() &&
        (other.vocab_size() != m.vocab_size() || other.context_length() != m.context_length()))
      fail(StatusCode::kFailedPrecondition, "model '", m.name(), "' is already served by ", w->describe(),
           " with vocabulary ", other.vocab_size(), " and context ", other.context_length(), "; this group has ",
           m.vocab_size(), " and ", m.context_length(), ": give it another --name");
  }
  auto w = std::make_shared<Worker>();
  w->id = next_worker_++;
  w->registration = request;
  w->last_heard = Clock::now();
  workers_[w->id] = w;
  LOG(INFO) << w->describe() << " registered: TP " << m.tp_size() << ", context " << m.context_length() << ", "
            << request.model_dir();
  v1::RegisterWorkerResponse response;
  response.set_worker_id(w->id);
  response.set_heartbeat_ms(heartbeat_ms());
  return response;
}

void Coordinator::heartbeat(const v1::HeartbeatRequest& request) {
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    changed = record_heartbeat(request);
  }
  if (changed) publish_serving();  // health turns SERVING with the first ready heartbeat, not a tick later
}

bool Coordinator::record_heartbeat(const v1::HeartbeatRequest& request) {
  auto it = workers_.find(request.worker_id());
  if (it == workers_.end())
    fail(StatusCode::kNotFound, "worker ", request.worker_id(), " is not registered here (dropped, or the "
         "coordinator restarted): register again");
  Worker& w = *it->second;
  const bool changed = w.state != request.state();
  if (changed) LOG(INFO) << w.describe() << ": " << state_name(w.state) << " -> " << state_name(request.state());
  w.state = request.state();
  w.last_heard = Clock::now();
  const v1::WorkerLoad& l = request.load();
  w.load = EngineStats{l.kv_blocks_total(), l.kv_blocks_free(), l.block_size(), l.running(),
                       l.waiting(),         l.requests(),       l.steps(),      l.preemptions()};
  return changed;
}

grpc::Status Coordinator::serve_work_stream(grpc::ServerContext& context, WorkStream& stream) {
  v1::WorkerMessage message;
  if (!stream.Read(&message)) return {grpc::StatusCode::CANCELLED, "the worker closed its stream"};
  std::shared_ptr<Worker> w;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = workers_.find(message.worker_id());
    if (it == workers_.end())
      return {grpc::StatusCode::NOT_FOUND,
              "worker " + std::to_string(message.worker_id()) + " is not registered here: register again"};
    w = it->second;
  }
  {
    std::scoped_lock lock(w->write_mutex, w->context_mutex);
    if (w->stream != nullptr)
      return {grpc::StatusCode::FAILED_PRECONDITION, w->describe() + " already has a Work stream"};
    w->stream = &stream;
    w->context = &context;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    w->attached = true;  // a heartbeat may have said "ready" before the stream opened: routing waits for both
  }
  publish_serving();
  std::string why = "closed its Work stream (it stopped)";
  std::vector<std::pair<std::shared_ptr<CallInbox>, v1::WorkResult*>> deliveries;
  do {
    // One lock per message (a batch of a step's results), the pushes after it.
    deliveries.clear();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (v1::WorkResult& r : *message.mutable_results()) {
        auto it = calls_.find(r.call_id());
        if (it != calls_.end() && it->second.first == w->id) deliveries.emplace_back(it->second.second, &r);
      }  // else: released already
    }
    for (auto& [inbox, r] : deliveries) inbox->push(std::move(*r));
  } while (stream.Read(&message));
  if (context.IsCancelled()) why = "lost its connection (its process ended, or the network failed)";
  {
    std::scoped_lock lock(w->write_mutex, w->context_mutex);
    w->stream = nullptr;
    w->context = nullptr;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  drop_locked(w->id, why);
  return grpc::Status::OK;
}

void Coordinator::drop_locked(uint64_t worker_id, const std::string& why) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return;
  const std::shared_ptr<Worker> w = it->second;
  workers_.erase(it);
  const std::string message = w->describe() + " " + why + "; its request did not complete: retry (another replica "
                              "takes it, if there is one)";
  for (uint64_t call : w->calls) {
    auto c = calls_.find(call);
    if (c == calls_.end()) continue;
    c->second.second->push(call_end(call, grpc::StatusCode::UNAVAILABLE, message));
    calls_.erase(c);
  }
  LOG(WARNING) << w->describe() << " dropped: " << why << " (" << w->calls.size() << " calls in flight ended)";
  std::lock_guard<std::mutex> lock(w->context_mutex);
  if (w->context != nullptr) w->context->TryCancel();
}

RoutedCall Coordinator::route(const std::string& model, v1::WorkItem item) {
  std::shared_ptr<Worker> target;
  RoutedCall call;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::set<std::string> names;
    for (const auto& [id, w] : workers_) names.insert(w->registration.model().name());
    std::string known;  // for messages
    for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
    std::string name = model;
    if (name.empty()) {
      if (names.empty())
        fail(StatusCode::kUnavailable, "no model is served yet: start a worker group (stepwise worker "
             "--coordinator ADDR --model DIR) and retry");
      if (names.size() > 1) invalid_argument("model: this server serves several models (", known, "); name one");
      name = *names.begin();
    }
    if (!names.count(name))
      fail(StatusCode::kNotFound, "model '", name, "' is not served here; served: ",
           known.empty() ? "none yet" : known);
    int replicas = 0;
    for (const auto& [id, w] : workers_) {
      if (w->registration.model().name() != name || !w->routable()) continue;
      ++replicas;
      if (static_cast<int64_t>(w->calls.size()) >= options_.max_queued) continue;
      // Least loaded: fewest calls routed here, then fewest waiting in its engine, then the longest unused.
      auto key = [](const Worker& x) { return std::make_tuple(x.calls.size(), x.load.waiting, x.last_routed); };
      if (!target || key(*w) < key(*target)) target = w;
    }
    if (replicas == 0)
      fail(StatusCode::kUnavailable, "model '", name, "' has no ready replica (loading or draining); retry");
    if (!target)
      fail(StatusCode::kResourceExhausted, "model '", name, "' has ", options_.max_queued,
           " requests in flight on each of its ", replicas, " replica", replicas == 1 ? "" : "s",
           " (--max-queued); retry later");
    call.call_id = next_call_++;
    call.worker_id = target->id;
    call.inbox = std::make_shared<CallInbox>();
    target->calls.insert(call.call_id);
    target->last_routed = ++routed_;
    ++target->routed;
    calls_[call.call_id] = {target->id, call.inbox};
  }
  item.set_call_id(call.call_id);
  // A failed write leaves the call to the drop that follows (the stream's reader sees it end).
  target->write(item);
  return call;
}

void Coordinator::drop_all(const std::string& why) {
  std::lock_guard<std::mutex> lock(mutex_);
  while (!workers_.empty()) drop_locked(workers_.begin()->first, why);
}

void Coordinator::release(const RoutedCall& call, bool cancel) {
  std::shared_ptr<Worker> w;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.erase(call.call_id);
    auto it = workers_.find(call.worker_id);
    if (it == workers_.end()) return;
    w = it->second;
    w->calls.erase(call.call_id);
  }
  if (cancel) {
    v1::WorkItem item;
    item.set_call_id(call.call_id);
    item.set_cancel(true);
    w->write(item);
  }
}

std::vector<ModelSummary> Coordinator::models() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, ModelSummary> by_name;
  for (const auto& [id, w] : workers_) {
    ModelSummary& s = by_name[w->registration.model().name()];
    if (s.state.empty()) s.model = w->registration.model();
    // Ready if any replica is; else loading if any is (it will be ready), else draining.
    // A group that said "ready" before its stream opened is still loading, to clients.
    const std::string state = w->routable()                          ? "ready"
                              : w->state == v1::WORKER_STATE_READY ? "loading"
                                                                   : state_name(w->state);
    if (state == "ready") ++s.replicas;
    if (s.state != "ready" && state != "draining") s.state = state;
    if (s.state.empty()) s.state = state;
    for (int64_t EngineStats::*f : {&EngineStats::num_blocks, &EngineStats::free_blocks, &EngineStats::running,
                                    &EngineStats::waiting, &EngineStats::requests, &EngineStats::steps,
                                    &EngineStats::preemptions})
      s.load.*f += w->load.*f;
    s.load.block_size = w->load.block_size;
  }
  std::vector<ModelSummary> out;
  for (auto& [name, s] : by_name) out.push_back(std::move(s));
  return out;
}

std::vector<WorkerSummary> Coordinator::workers() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<WorkerSummary> out;
  for (const auto& [id, w] : workers_)
    out.push_back({id, w->registration.model().name(), w->routable() ? "ready" : state_name(w->state), static_cast<int64_t>(w->calls.size()),
                   w->routed});
  return out;
}

size_t Coordinator::calls_in_flight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return calls_.size();
}

bool Coordinator::has_ready_model(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [id, w] : workers_)
    if (w->registration.model().name() == name && w->routable()) return true;
  return false;
}

void Coordinator::on_serving_changed(std::function<void(bool)> callback) {
  {
    std::lock_guard<std::mutex> callback_lock(callback_mutex_);
    serving_changed_ = std::move(callback);
    serving_.reset();
  }
  publish_serving();
}

void Coordinator::publish_serving() {
  std::lock_guard<std::mutex> callback_lock(callback_mutex_);
  if (!serving_changed_) return;
  bool ready = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [id, w] : workers_) ready = ready || w->routable();
  }
  if (serving_ == ready) return;
  serving_ = ready;
  serving_changed_(ready);
}

void Coordinator::reap() {
  const auto timeout = std::chrono::duration<double>(options_.worker_timeout_s);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stop_; })) {
    const Clock::time_point now = Clock::now();
    std::vector<uint64_t> silent;
    for (const auto& [id, w] : workers_)
      if (now - w->last_heard > timeout) silent.push_back(id);
    for (uint64_t id : silent)
      drop_locked(id, "sent no heartbeat for " + std::to_string(options_.worker_timeout_s) + " s (--worker-timeout)");
    lock.unlock();
    publish_serving();  // after drops here and on streams' ends
    lock.lock();
  }
}

}  // namespace stepwise::serve
