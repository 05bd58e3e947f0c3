// The stepwise gRPC server of `stepwise serve`, the coordinator: the Generation and Monitoring services for
// clients, the Jobs service (with a state directory: serve/job_scheduler.h), the Workers service for worker groups (`stepwise worker`), grpc.health.v1 (SERVING while some model has a
// ready replica) and server reflection, over plain TCP or TLS (optionally requiring client certificates), with an
// optional bearer token. With model folders it also runs one worker group in process for each (one command serves
// a model). SIGTERM or SIGINT drains it: new calls are UNAVAILABLE, calls in flight finish within --drain-seconds
// (then they are cancelled), and run_server returns 0.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "infer/engine.h"
#include "serve/job_scheduler.h"

namespace stepwise::serve {

struct ServerOptions {
  std::string listen;  // host:port (":port": every interface); port 0 picks a free one (printed)
  std::string tls_cert, tls_key, tls_client_ca;  // PEM files; a client CA makes client certificates required
  std::string auth_token_file;
  int64_t max_queued = 256;        // calls in flight per replica
  double drain_seconds = 30;
  double worker_timeout_s = 5;     // a worker group silent this long is dropped
  EngineOptions engine;
  kernels::CpuAccumulation accumulation = kernels::CpuAccumulation::kFloat64;  // the in-process models'
  JobSchedulerOptions jobs;  // state_dir empty: no jobs (the Jobs service answers FAILED_PRECONDITION)
};

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts afterwards (gRPC's, the engines'),
// so that run_server receives them with sigwait. Call it first, before loading anything.
void block_shutdown_signals();

// Loads each model folder (dir, name; name empty: the folder's name) into an in-process worker group, serves until
// SIGTERM / SIGINT, drains, returns 0. Prints "stepwise serve: listening on HOST:PORT" once calls are accepted and
// the in-process models are ready.
int run_server(const ServerOptions& options, const std::vector<std::pair<std::string, std::string>>& models);

}  // namespace stepwise::serve
