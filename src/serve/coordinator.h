// Coordinator: the worker groups a server routes calls to, by model (proto/stepwise/v1/workers.proto). A group
// registers, heartbeats its state and load, and carries its calls over one Work stream; a call goes to the least
// loaded ready replica of its model. A group whose heartbeats stop for the worker timeout, or whose stream ends, is
// dropped, and every call it held ends UNAVAILABLE at once: a client never waits on a group that is gone.
// Thread-safe: the handlers of the Generation and Workers services and the reaper thread all use it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "infer/engine.h"
#include "stepwise/v1/workers.grpc.pb.h"

namespace stepwise::serve {

// The results of one call, from its group's Work stream to the call's handler thread.
class CallInbox {
 public:
  void push(v1::WorkResult result);
  // The next result, or nothing after `wait`.
  std::optional<v1::WorkResult> pop(std::chrono::milliseconds wait);

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<v1::WorkResult> results_;
};

struct CoordinatorOptions {
  double worker_timeout_s = 5;  // a group silent this long is dropped; it heartbeats five times as often
  int64_t max_queued = 256;     // calls in flight per replica before RESOURCE_EXHAUSTED
};

// A model as ListModels shows it, with its replicas' engine state summed (for the metrics).
struct ModelSummary {
  v1::WorkerModel model;
  int32_t replicas = 0;  // ready worker groups
  std::string state;     // "ready" (some replica is), else "loading" (some group still loads), else "draining"
  EngineStats load;
};

// One group, for the metrics.
struct WorkerSummary {
  uint64_t id = 0;
  std::string model, state;
  int64_t calls_in_flight = 0, calls_total = 0;  // routed to it: now, and since it registered
};

// A call on its way to one group.
struct RoutedCall {
  uint64_t call_id = 0, worker_id = 0;
  std::shared_ptr<CallInbox> inbox;
};

class Coordinator {
 public:
  explicit Coordinator(const CoordinatorOptions& options);
  ~Coordinator();  // stops the reaper
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // The Workers service. Errors are StatusError: FAILED_PRECONDITION for a model name served with another shape,
  // NOT_FOUND for an unknown worker id.
  v1::RegisterWorkerResponse register_worker(const v1::RegisterWorkerRequest& request);
  void heartbeat(const v1::HeartbeatRequest& request);
  using WorkStream = grpc::ServerReaderWriterInterface<v1::WorkItem, v1::WorkerMessage>;
  // Carries a group's calls until its stream ends, then drops the group.
  grpc::Status serve_work_stream(grpc::ServerContext& context, WorkStream& stream);

  // Sends `item` (its call_id is set here) to the least loaded ready replica of `model` (empty: the only model).
  // NOT_FOUND for a model nobody serves, UNAVAILABLE while none of its replicas is ready, RESOURCE_EXHAUSTED when
  // every ready replica has max_queued calls.
  RoutedCall route(const std::string& model, v1::WorkItem item);
  // Drops every group (their streams end; they will register again with a coordinator on this address).
  void drop_all(const std::string& why);
  // The call is over: its end came, or its client left (`cancel`: the group stops it).
  void release(const RoutedCall& call, bool cancel);
  std::vector<ModelSummary> models() const;
  std::vector<WorkerSummary> workers() const;
  size_t calls_in_flight() const;
  bool has_ready_model(const std::string& name) const;
  // Called when "some replica is ready" changes (the health service's status): at once with the current state,
  // then on heartbeats that change a group's state and after drops. Once a call to clear it (nullptr) returns, the
  // old callback is not running and never runs again.
  void on_serving_changed(std::function<void(bool)> callback);

 private:
  struct Worker;
  // Ends every call of the group with UNAVAILABLE and cancels its stream. Under mutex_.
  void drop_locked(uint64_t worker_id, const std::string& why);
  bool record_heartbeat(const v1::HeartbeatRequest& request);  // under mutex_; true when the state changed
  void publish_serving();
  void reap();
  int heartbeat_ms() const;

  CoordinatorOptions options_;
  mutable std::mutex mutex_;
  std::map<uint64_t, std::shared_ptr<Worker>> workers_;
  std::map<uint64_t, std::pair<uint64_t, std::shared_ptr<CallInbox>>> calls_;  // call id -> worker id, inbox
  uint64_t next_worker_ = 1, next_call_ = 1, routed_ = 0;
  std::mutex callback_mutex_;  // held while the callback runs, so that clearing it waits for it
  std::function<void(bool)> serving_changed_;
  std::optional<bool> serving_;  // as last published
  bool stop_ = false;
  std::condition_variable stop_cv_;
  std::thread reaper_;
};

}  // namespace stepwise::serve
