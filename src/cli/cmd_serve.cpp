// `stepwise serve`: the gRPC server and coordinator (src/serve): Generation, Monitoring, Workers, grpc.health.v1
// and reflection, routing calls to `stepwise worker` groups and, with --model, to a group it runs in this process
// (one command serves a model), until SIGTERM or SIGINT, which drain it (docs/serving.md).
#include <memory>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/serving_flags.h"
#include "serve/server.h"

namespace stepwise::cli {

namespace {

struct ServeFlags {
  serve::ServerOptions server;
  std::string model_dir, name;
};

}  // namespace

void add_serve_command(CommandLine& cli, CLI::App& parent) {
  auto flags = std::make_shared<ServeFlags>();
  serve::ServerOptions& o = flags->server;
  o.listen = "127.0.0.1:50051";
  CLI::App& command = add_command(
      parent, "serve", "serve generation over gRPC: the coordinator of worker groups (stepwise.v1, health, reflection)",
      "stepwise serve --listen 0.0.0.0:50051 --model runs/tiny-gsm8k-hf\n"
      "stepwise serve --listen 0.0.0.0:50051      # a coordinator; then: mpirun -np 2 stepwise worker --tp 2 ...\n"
      "stepwise serve --listen 127.0.0.1:0 --model DIR --auth-token-file token.txt --tls-cert cert.pem --tls-key key.pem",
      "Answers stepwise.v1.Generation calls (Generate streams chunks; ListModels; Tokenize) by routing each to the\n"
      "least loaded ready replica of its model: worker groups (`stepwise worker`) that register here over the\n"
      "Workers service, and with --model one group in this process (the folder's config.json, weights, tokenizer\n"
      "files). Also stepwise.v1.Monitoring (Prometheus text), grpc.health.v1.Health (SERVING while some model is\n"
      "ready) and server reflection. Port 0 picks a free port; the line 'stepwise serve: listening on HOST:PORT'\n"
      "says which. SIGTERM or SIGINT: new calls are refused, calls in flight finish within --drain-seconds (then\n"
      "they are cancelled), exit 0.");
  command.add_option("--listen", o.listen, "host:port to listen on; :PORT: every interface")->type_name("ADDR")->capture_default_str();
  add_model_flag(command, flags->model_dir)
      ->required(false)
      ->description("a Hugging Face model folder to serve in this process (without: a coordinator of `stepwise "
                    "worker` groups only)");
  command.add_option("--name", flags->name, "the model's name in the API (default: the folder's name)")
      ->type_name("NAME");
  existing_file(command.add_option("--auth-token-file", o.auth_token_file,
                                   "require 'authorization: Bearer <token>' with the token on the file's first line")
                    ->type_name("FILE"));
  existing_file(command.add_option("--tls-cert", o.tls_cert, "serve TLS with this PEM certificate chain")
                    ->type_name("FILE"));
  existing_file(command.add_option("--tls-key", o.tls_key, "the certificate's PEM private key")->type_name("FILE"));
  existing_file(command.add_option("--tls-client-ca", o.tls_client_ca,
                                   "require client certificates signed by this PEM CA")
                    ->type_name("FILE"));
  at_least(command.add_option("--max-queued", o.max_queued,
                              "requests in flight per model; more are refused with RESOURCE_EXHAUSTED")
               ->type_name("N"),
           1);
  at_least(command.add_option("--drain-seconds", o.drain_seconds,
                              "on SIGTERM, how long calls in flight may take to finish")
               ->type_name("S"),
           0);
  at_least(command.add_option("--worker-timeout", o.worker_timeout_s,
                              "a worker group silent this long is dropped, its calls ending UNAVAILABLE")
               ->type_name("S")
               ->capture_default_str(),
           0.25);
  add_engine_flags(command, o.engine);
  add_accumulation_flag(command, o.accumulation);
  cli.on_run(command, [flags] {
    serve::block_shutdown_signals();
    std::vector<std::pair<std::string, std::string>> models;
    if (!flags->model_dir.empty()) models.emplace_back(flags->model_dir, flags->name);
    else if (!flags->name.empty()) invalid_argument("--name names the --model served in process; give --model too");
    return serve::run_server(flags->server, models);
  });
}

}  // namespace stepwise::cli
