// The stepwise gRPC server of `stepwise serve`: the Generation and Monitoring services, grpc.health.v1 (SERVING
// while the models are served) and server reflection, over plain TCP or TLS (optionally requiring client
// certificates), with an optional bearer token. SIGTERM or SIGINT drains it: new calls are UNAVAILABLE, calls in
// flight finish within --drain-seconds (then they are cancelled), and run_server returns 0.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "serve/served_model.h"

namespace stepwise::serve {

struct ServerOptions {
  std::string listen;  // host:port; port 0 picks a free one (printed)
  std::string tls_cert, tls_key, tls_client_ca;  // PEM files; a client CA makes client certificates required
  std::string auth_token_file;
  int64_t max_queued = 256;
  double drain_seconds = 30;
  EngineOptions engine;
};

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts afterwards (gRPC's, the engines'),
// so that run_server receives them with sigwait. Call it first, before loading anything.
void block_shutdown_signals();

// Loads each model folder (name: its folder's name), serves until SIGTERM / SIGINT, drains, returns 0. Prints
// "stepwise serve: listening on HOST:PORT" once calls are accepted.
int run_server(const ServerOptions& options, const std::vector<std::pair<std::string, std::string>>& models);

}  // namespace stepwise::serve
