// run_server: build, serve, drain on a signal.
#include "serve/server.h"

#include <glog/logging.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/status.h"
#include "serve/generation_service.h"

namespace stepwise::serve {

namespace {

std::string read_pem(const std::string& path, const char* flag) {
  std::ifstream in(path);
  if (!in) invalid_argument(flag, ": cannot read ", path);
  std::stringstream s;
  s << in.rdbuf();
  if (s.str().find("-----BEGIN") == std::string::npos) invalid_argument(flag, ": ", path, " is not a PEM file");
  return s.str();
}

std::shared_ptr<grpc::ServerCredentials> credentials(const ServerOptions& o) {
  if (o.tls_cert.empty() && o.tls_key.empty()) {
    if (!o.tls_client_ca.empty()) invalid_argument("--tls-client-ca needs --tls-cert and --tls-key");
    return grpc::InsecureServerCredentials();
  }
  if (o.tls_cert.empty() || o.tls_key.empty()) invalid_argument("TLS needs both --tls-cert and --tls-key");
  grpc::SslServerCredentialsOptions ssl(o.tls_client_ca.empty()
                                            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_key_cert_pairs.push_back({read_pem(o.tls_key, "--tls-key"), read_pem(o.tls_cert, "--tls-cert")});
  if (!o.tls_client_ca.empty()) ssl.pem_root_certs = read_pem(o.tls_client_ca, "--tls-client-ca");
  return grpc::SslServerCredentials(ssl);
}

sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void block_shutdown_signals() {
  const sigset_t set = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int run_server(const ServerOptions& o, const std::vector<std::pair<std::string, std::string>>& models) {
  ServiceState state;
  state.max_queued = o.max_queued;
  if (!o.auth_token_file.empty()) state.auth = BearerAuth::from_file(o.auth_token_file);
  const std::shared_ptr<grpc::ServerCredentials> creds = credentials(o);
  for (const auto& [dir, name] : models) state.models.push_back(ServedModel::load(dir, name, o.engine));

  GenerationService generation(state);
  MonitoringService monitoring(state);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(o.listen, creds, &port);
  builder.RegisterService(&generation);
  builder.RegisterService(&monitoring);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0)
    fail(StatusCode::kUnavailable, "--listen ", o.listen, ": cannot listen there (in use, or not a host:port)");
  server->GetHealthCheckService()->SetServingStatus(true);
  const std::string host = o.listen.substr(0, o.listen.rfind(':'));
  std::printf("stepwise serve: listening on %s:%d (%zu model%s%s%s)\n", host.c_str(), port, state.models.size(),
              state.models.size() == 1 ? "" : "s", o.tls_cert.empty() ? "" : ", TLS",
              state.auth.enabled() ? ", bearer token" : "");
  std::fflush(stdout);

  const sigset_t set = shutdown_signals();
  int signal = 0;
  sigwait(&set, &signal);
  LOG(INFO) << "signal " << signal << ": draining (at most " << o.drain_seconds << " s)";
  state.draining = true;
  server->GetHealthCheckService()->SetServingStatus(false);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.drain_seconds);
  for (const auto& m : state.models) {
    while (!m->engine->idle() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (uint64_t id : m->engine->active_requests()) m->engine->cancel(id);
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  for (const auto& m : state.models) m->shut_down();
  LOG(INFO) << "stopped";
  return 0;
}

}  // namespace stepwise::serve
