// `stepwise serve`: the gRPC server and coordinator (src/serve): Generation, Monitoring, Workers, grpc.health.v1
// and reflection, routing calls to `stepwise worker` groups and, with --model, to a group it runs in this process
// (one command serves a model), until SIGTERM or SIGINT, which drain it (docs/serving.md).
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

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
      "stepwise serve --listen 127.0.0.1:0 --model DIR --auth-token-file token.txt --tls-cert cert.pem --tls-key key.pem\n"
      "stepwise serve --listen :50051 --state-dir runs/coordinator   # also jobs: stepwise client jobs submit ...",
      "Answers stepwise.v1.Generation calls (Generate streams chunks; ListModels; Tokenize) by routing each to the\n"
      "least loaded ready replica of its model: worker groups (`stepwise worker`) that register here over the\n"
      "Workers service, and with --model one group in this process (the folder's config.json, weights, tokenizer\n"
      "files). Also stepwise.v1.Monitoring (Prometheus text), grpc.health.v1.Health (SERVING while some model is\n"
      "ready) and server reflection. Port 0 picks a free port; the line 'stepwise serve: listening on HOST:PORT'\n"
      "says which. SIGTERM or SIGINT: new calls are refused, calls in flight finish within --drain-seconds (then\n"
      "they are cancelled), exit 0. With --state-dir it also runs jobs (stepwise.v1.Jobs: SFT, data prepare,\n"
      "convert, eval, distill) on this host under mpirun or on Slurm; they outlive the server, and a server\n"
      "started again on the same directory follows them on (docs/jobs.md).");
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
  command.add_option("--state-dir", o.jobs.state_dir,
                     "keep jobs (stepwise.v1.Jobs) in DIR: jobs.db (SQLite) and each job's files; without it, no jobs")
      ->type_name("DIR");
  o.jobs.local_slots = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  at_least(command.add_option("--local-slots", o.jobs.local_slots,
                              "ranks of local jobs running at once (default: this host's cores); more wait queued")
               ->type_name("N")
               ->capture_default_str(),
           1);
  o.jobs.mpirun = "mpirun";
  command.add_option("--mpirun", o.jobs.mpirun, "the mpirun that starts local jobs of more than one rank")
      ->type_name("PATH")
      ->capture_default_str();
  at_least(command.add_option("--cancel-grace", o.jobs.cancel_grace_s,
                              "a cancelled local job gets SIGTERM, then SIGKILL after this many seconds")
               ->type_name("S")
               ->capture_default_str(),
           0);
  command.add_option("--sbatch-arg", o.jobs.sbatch_args,
                     "an sbatch option for every Slurm job, e.g. --sbatch-arg=--partition=cpu (repeatable)")
      ->type_name("OPTION")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  add_engine_flags(command, o.engine);
  add_accumulation_flag(command, o.accumulation);
  cli.on_run(command, [flags] {
    serve::block_shutdown_signals();
    // Jobs run this very binary; their command lines are checked at submit by this binary's own parser.
    flags->server.jobs.binary = std::filesystem::read_symlink("/proc/self/exe").string();
    flags->server.jobs.check_command = [](const std::vector<std::string>& args) { return CommandLine().check(args); };
    std::vector<std::pair<std::string, std::string>> models;
    if (!flags->model_dir.empty()) models.emplace_back(flags->model_dir, flags->name);
    else if (!flags->name.empty()) invalid_argument("--name names the --model served in process; give --model too");
    return serve::run_server(flags->server, models);
  });
}

}  // namespace stepwise::cli
