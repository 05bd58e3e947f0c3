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
#include "serve/jobs_service.h"
#include "serve/served_model.h"
#include "serve/worker.h"
#include "serve/workers_service.h"

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
  ServiceState state(CoordinatorOptions{o.worker_timeout_s, o.max_queued});
  if (!o.auth_token_file.empty()) state.auth = BearerAuth::from_file(o.auth_token_file);
  const std::shared_ptr<grpc::ServerCredentials> creds = credentials(o);
  std::vector<std::unique_ptr<ServedModel>> served;
  for (const auto& [dir, name] : models) {
    served.push_back(ServedModel::load(dir, name, o.engine, nullptr, o.accumulation));
    served.back()->start();
  }

  // Jobs are followed from the start: the ones that ran on while no coordinator was up end or are reattached now.
  std::unique_ptr<JobScheduler> scheduler;
  if (!o.jobs.state_dir.empty()) scheduler = std::make_unique<JobScheduler>(o.jobs);
  JobsService jobs(state.auth, scheduler.get());
  GenerationService generation(state);
  MonitoringService monitoring(state);
  WorkersService workers(state);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  // ":PORT" (no host) listens on every interface, as `stepwise serve --listen :50051` in the design brief.
  const std::string listen = !o.listen.empty() && o.listen.front() == ':' ? "0.0.0.0" + o.listen : o.listen;
  builder.AddListeningPort(listen, creds, &port);
  builder.RegisterService(&generation);
  builder.RegisterService(&monitoring);
  builder.RegisterService(&workers);
  builder.RegisterService(&jobs);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0)
    fail(StatusCode::kUnavailable, "--listen ", o.listen, ": cannot listen there (in use, or not a host:port)");
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  state.coordinator.on_serving_changed([health](bool serving) { health->SetServingStatus(serving); });

  // The in-process groups reach the coordinator over an in-process channel: the same protocol as remote ones.
  std::vector<std::unique_ptr<Worker>> local;
  for (const auto& m : served) {
    CoordinatorChannel channel{server->InProcessChannel(grpc::ChannelArguments()), "in-process", state.auth.token()};
    local.push_back(std::make_unique<Worker>(channel, worker_registration(m->dir, m->name, 1)));
    local.back()->set_ready(*m);
    local.back()->start();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!state.coordinator.has_ready_model(m->name)) {
      if (!local.back()->failure().empty()) fail(StatusCode::kFailedPrecondition, local.back()->failure());
      if (std::chrono::steady_clock::now() > give_up)
        fail(StatusCode::kInternal, "model '", m->name, "': its in-process worker group did not register in 30 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::printf("stepwise serve: listening on %s:%d (%zu model%s in process%s%s%s)\n", host.c_str(), port,
              served.size(), served.size() == 1 ? "" : "s", o.tls_cert.empty() ? "" : ", TLS",
              state.auth.enabled() ? ", bearer token" : "",
              scheduler ? (", jobs in " + o.jobs.state_dir).c_str() : "");
  std::fflush(stdout);

  const sigset_t set = shutdown_signals();
  int signal = 0;
  sigwait(&set, &signal);
  LOG(INFO) << "signal " << signal << ": draining (at most " << o.drain_seconds << " s)";
  state.draining = true;
  state.coordinator.on_serving_changed(nullptr);
  health->SetServingStatus(false);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.drain_seconds);
  while (state.coordinator.calls_in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // What is left is cancelled (remote groups' calls end when the server's streams close).
  for (const auto& w : local) w->drain(0);
  for (const auto& w : local) w->stop();
  state.coordinator.drop_all("was let go: the coordinator is shutting down");  // ends the remote groups' streams
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  scheduler.reset();  // the jobs run on; the next coordinator on this state directory follows them
  for (const auto& m : served) m->shut_down();
  LOG(INFO) << "stopped";
  return 0;
}

}  // namespace stepwise::serve
