// `stepwise worker`: a worker group serving one model for a coordinator (`stepwise serve`): under `mpirun -np N
// ... --tp N` its ranks hold one shard each and run the engine's steps in lock-step; rank 0 registers with the
// coordinator, heartbeats, and carries the coordinator's calls to and from the engine (src/serve/worker.h). SIGTERM
// or SIGINT on rank 0 (or on mpirun, which passes it on) drains it: the coordinator routes nothing new to it, its
// calls finish within --drain-seconds (then they are cancelled), every rank exits 0.
#include <signal.h>

#include <glog/logging.h>

#include <memory>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/connection_flags.h"
#include "cli/flags.h"
#include "cli/serving_flags.h"
#include "core/status.h"
#include "distributed/mpi_runtime.h"
#include "distributed/process_grid.h"
#include "serve/server.h"
#include "serve/worker.h"

namespace stepwise::cli {

namespace {

struct WorkerFlags {
  Connection coordinator;
  std::string model_dir, name;
  int tp = 1;
  double drain_seconds = 30;
  EngineOptions engine;
  kernels::CpuAccumulation accumulation = kernels::CpuAccumulation::kFloat64;
};

// Rank 0: until SIGTERM / SIGINT, or until the coordinator refuses the group for good.
void wait_for_shutdown(const serve::Worker& worker) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  const timespec tick{0, 200'000'000};
  while (sigtimedwait(&set, nullptr, &tick) < 0) {
    const std::string failure = worker.failure();
    if (!failure.empty()) fail(StatusCode::kFailedPrecondition, failure);
  }
}

int run_worker(const WorkerFlags& f) {
  const ProcessGrid grid = make_process_grid(f.tp, Device::kCPU, /*dp_size=*/1);
  std::unique_ptr<serve::Worker> worker;
  if (grid.is_root()) {
    // Registered before the weights load, so that ListModels shows the group as "loading".
    worker = std::make_unique<serve::Worker>(
        serve::CoordinatorChannel{channel(f.coordinator), f.coordinator.server, bearer_token(f.coordinator)},
        serve::worker_registration(f.model_dir, f.name, f.tp));
    worker->start();
  }
  const std::unique_ptr<serve::ServedModel> served =
      serve::ServedModel::load(f.model_dir, f.name, f.engine, grid.tp.get(), f.accumulation);
  if (!grid.is_root()) {
    served->engine->run_peer();
    return 0;
  }
  served->start();
  worker->set_ready(*served);
  try {
    wait_for_shutdown(*worker);
  } catch (...) {
    worker->stop();
    served->shut_down();
    throw;
  }
  LOG(INFO) << "signal: draining (at most " << f.drain_seconds << " s)";
  worker->drain(f.drain_seconds);
  worker->stop();
  served->shut_down();
  LOG(INFO) << "stopped";
  return 0;
}

}  // namespace

void add_worker_command(CommandLine& cli, CLI::App& parent) {
  auto f = std::make_shared<WorkerFlags>();
  CLI::App& command = add_command(
      parent, "worker", "serve a model for a coordinator (`stepwise serve`) as a TP worker group",
      "mpirun -np 2 stepwise worker --coordinator head:50051 --model DIR --tp 2\n"
      "stepwise worker --coordinator 127.0.0.1:50051 --model runs/tiny-gsm8k-hf --name tiny --auth-token-file token.txt",
      "Rank 0 registers with the coordinator (and again whenever the coordinator restarts), heartbeats its state\n"
      "and load, and answers the calls the coordinator routes to it; all ranks run the serving engine in lock-step.\n"
      "Several groups may serve the same --name (replicas: the coordinator routes to the least loaded) or different\n"
      "models. SIGTERM or SIGINT: no new calls, calls in flight finish within --drain-seconds, exit 0.");
  add_connection_flags(command, f->coordinator, "--coordinator", /*with_timeout=*/false);
  add_model_flag(command, f->model_dir);
  command.add_option("--name", f->name, "the model's name in the API (default: the folder's name)")
      ->type_name("NAME");
  add_tp_flag(command, f->tp);
  at_least(command.add_option("--drain-seconds", f->drain_seconds,
                              "on SIGTERM, how long calls in flight may take to finish")
               ->type_name("S"),
           0);
  add_engine_flags(command, f->engine);
  add_accumulation_flag(command, f->accumulation);
  cli.on_run(command, [f] {
    // Before MPI and gRPC start their threads, which inherit the mask: rank 0 takes the signals with sigwait, and
    // the other ranks leave them to rank 0, which shuts them down.
    serve::block_shutdown_signals();
    return run_with_mpi_if_needed(f->tp > 1, [&] { return run_worker(*f); });
  });
}

}  // namespace stepwise::cli
