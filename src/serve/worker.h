// Worker: TP rank 0 of a worker group, as the coordinator sees it (proto/stepwise/v1/workers.proto). It registers,
// heartbeats its state and its engine's load, and serves the Work stream: a generate call is checked against the
// model (INVALID_ARGUMENT naming the field comes back as the call's end) and submitted to the engine, whose chunks
// go back as they come; a tokenize call is answered at once; a cancel ends the engine request. When the stream ends
// (the coordinator stopped or restarted, or dropped this group) the group's calls are cancelled and it registers
// again, every second, until stopped. `stepwise worker` runs one under mpirun; `stepwise serve --model` runs one in
// process over an in-process channel.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "serve/served_model.h"
#include "stepwise/v1/workers.grpc.pb.h"

namespace stepwise::serve {

struct CoordinatorChannel {
  std::shared_ptr<grpc::Channel> channel;
  std::string address;       // for messages
  std::string bearer_token;  // empty: none
};

// What a group registers: the model folder's config (read without loading the weights) under its served name.
v1::RegisterWorkerRequest worker_registration(const std::string& dir, const std::string& name, int tp_size);

class Worker {
 public:
  Worker(CoordinatorChannel coordinator, v1::RegisterWorkerRequest registration);
  ~Worker();  // stop()
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the connection thread (registration while the model loads is fine: the group is "loading").
  void start();
  // The model is loaded and its engine started: work is accepted from now on. It must outlive the worker's stop().
  void set_ready(ServedModel& model);
  // Registered and its Work stream open.
  bool connected() const { return connected_; }
  // Why the coordinator will never take this group (a wrong token, a model name taken by another shape); empty
  // while it is serving or still trying to reach the coordinator.
  std::string failure() const;
  // Tells the coordinator it drains (no new calls), waits at most `seconds` for its calls to end, cancels the rest.
  void drain(double seconds);
  // Closes the stream and ends the threads; calls still running are cancelled.
  void stop();

 private:
  struct Session;
  void run();
  // One registration and Work stream, until the stream ends or stop().
  void run_session(uint64_t worker_id, int heartbeat_ms);
  void heartbeats(Session& session, int heartbeat_ms);
  void handle(Session& session, const std::shared_ptr<Session>& shared, const v1::WorkItem& item);
  void add_auth(grpc::ClientContext& context) const;
  bool wait_unless_stopped(std::chrono::milliseconds duration);

  CoordinatorChannel coordinator_;
  std::unique_ptr<v1::Workers::Stub> stub_;
  v1::RegisterWorkerRequest registration_;
  std::atomic<ServedModel*> model_{nullptr};
  std::atomic<int> state_{0};  // v1::WorkerState
  std::atomic<bool> connected_{false};

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // stop(), a failure
  bool stop_ = false;
  std::string failure_;
  std::shared_ptr<Session> session_;  // the open one, if any
  std::thread thread_;
};

}  // namespace stepwise::serve
