// `stepwise bench grpc`: the whole serving stack under load. A `stepwise serve` process on random weights of
// --preset (with --replicas K > 1: a model-less coordinator and K `stepwise worker` processes) is called over
// loopback with the C++ stubs: the workload's requests one at a time, then all at once, one stream each, in the same
// run against the same server. Reported as `bench serve` reports the engine alone: aggregate generated tokens/s,
// time to first token and inter-token latency (p50 / p99), all counted from the moment every request is sent.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include "cli/benchmarks.h"
#include "cli/command_line.h"
#include "cli/flags.h"
#include "cli/serving_workload.h"
#include "core/status.h"
#include "core/subprocess.h"
#include "io/hf_config.h"
#include "model/hf_export.h"
#include "model/qwen3.h"
#include "stepwise/v1/generation.grpc.pb.h"

namespace stepwise::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct GrpcBenchFlags {
  std::string preset = "qwen3-tiny", server_flags;
  int64_t replicas = 1;
  WorkloadShape shape;
};

// The model's folder and the processes serving it, removed and stopped at the end.
struct BenchServer {
  std::string dir, address;
  std::vector<std::unique_ptr<Subprocess>> processes;  // the coordinator first
  ~BenchServer() {
    for (auto it = processes.rbegin(); it != processes.rend(); ++it) {
      (*it)->signal(SIGTERM);
      (*it)->wait(30);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

void start_server(const GrpcBenchFlags& f, BenchServer& s) {
  char pattern[] = "/tmp/stepwise-bench-grpc-XXXXXX";
  if (mkdtemp(pattern) == nullptr) fail(StatusCode::kUnavailable, "cannot make a folder under /tmp for the model");
  s.dir = pattern;
  Qwen3Model model(qwen3_preset(f.preset), ModelOptions{});
  model.init_random(0);
  export_model_to_hf(model, s.dir);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string serve = self + " serve --listen 127.0.0.1:0 " +
                            (f.replicas == 1 ? "--model " + s.dir + " --name bench " + f.server_flags : "");
  s.processes.push_back(std::make_unique<Subprocess>(serve, s.dir + "/serve.err"));
  const std::string line = s.processes[0]->wait_for_line("listening on ", 120);
  s.processes[0]->close_stdout();
  if (line.empty()) fail(StatusCode::kUnavailable, "`", serve, "` did not start: see ", s.dir, "/serve.err");
  const size_t at = line.find("listening on ") + 13;
  s.address = line.substr(at, line.find(' ', at) - at);
  if (f.replicas == 1) return;
  // Replicas on one host share its cores (as launch/mpirun.sh shares them between ranks): OpenMP teams that add up
  // to more threads than cores stall each other at every barrier.
  const char* omp = std::getenv("OMP_NUM_THREADS");
  const std::string threads =
      omp != nullptr ? std::string(omp)
                     : std::to_string(std::max<int64_t>(1, std::thread::hardware_concurrency() / f.replicas));
  for (int64_t k = 0; k < f.replicas; ++k)
    s.processes.push_back(std::make_unique<Subprocess>(
        "env OMP_NUM_THREADS=" + threads + " " + self + " worker --coordinator " + s.address + " --model " + s.dir +
            " --name bench " + f.server_flags,
        s.dir + "/worker-" + std::to_string(k) + ".err", /*capture_stdout=*/false));
  auto stub = v1::Generation::NewStub(grpc::CreateChannel(s.address, grpc::InsecureChannelCredentials()));
  const auto give_up = Clock::now() + std::chrono::seconds(120);
  while (true) {
    grpc::ClientContext context;
    v1::ListModelsResponse models;
    if (stub->ListModels(&context, {}, &models).ok() && models.models_size() == 1 &&
        models.models(0).replicas() == f.replicas)
      return;
    if (Clock::now() > give_up)
      fail(StatusCode::kUnavailable, "the ", f.replicas, " workers did not all register in 120 s: see ", s.dir,
           "/worker-*.err");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// One greedy stream, its tokens timed from t0.
void call(v1::Generation::Stub& stub, const std::vector<int32_t>& prompt, int64_t new_tokens, Clock::time_point t0,
          std::vector<double>& arrivals, std::vector<int32_t>& tokens) {
  v1::GenerateRequest r;
  r.set_model("bench");
  for (int32_t id : prompt) r.add_prompt_ids(id);
  r.set_max_tokens(static_cast<int32_t>(new_tokens));
  r.set_ignore_eos(true);
  grpc::ClientContext context;
  auto reader = stub.Generate(&context, r);
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
    const double now = seconds_since(t0);
    for (int32_t id : response.token_ids()) {
      tokens.push_back(id);
      arrivals.push_back(now);
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) fail(StatusCode::kUnavailable, "a Generate call failed: ", status.error_message());
}

Timings run(v1::Generation::Stub& stub, const Workload& w, bool at_once) {
  Timings t;
  t.arrivals.resize(w.prompts.size());
  t.tokens.resize(w.prompts.size());
  const Clock::time_point t0 = Clock::now();
  if (!at_once) {
    for (size_t i = 0; i < w.prompts.size(); ++i)
      call(stub, w.prompts[i], w.new_tokens[i], t0, t.arrivals[i], t.tokens[i]);
  } else {
    std::vector<std::thread> streams;
    std::vector<std::string> errors(w.prompts.size());
    for (size_t i = 0; i < w.prompts.size(); ++i)
      streams.emplace_back([&, i] {
        try {
          call(stub, w.prompts[i], w.new_tokens[i], t0, t.arrivals[i], t.tokens[i]);
        } catch (const StatusError& e) {
          errors[i] = e.what();
        }
      });
    for (std::thread& s : streams) s.join();
    for (const std::string& e : errors)
      if (!e.empty()) fail(StatusCode::kUnavailable, e);
  }
  t.wall = seconds_since(t0);
  return t;
}

int bench_grpc(const GrpcBenchFlags& f) {
  const Qwen3Config config = qwen3_preset(f.preset);
  const Workload w = make_workload(f.shape, config.vocab_size, config.max_position_embeddings);
  BenchServer server;
  start_server(f, server);
  auto stub = v1::Generation::NewStub(grpc::CreateChannel(server.address, grpc::InsecureChannelCredentials()));
  Workload warm;
  warm.prompts = {w.prompts.front()};
  warm.new_tokens = {4};
  run(*stub, warm, false);  // the channel connected, the server's buffers touched

  const Timings single = run(*stub, w, false);
  const Timings many = run(*stub, w, true);
  const Summary s1 = summarize(single, w.total_new), sn = summarize(many, w.total_new);
  const int64_t identical = identical_outputs(single, many);
  std::printf("bench grpc: %s on the CPU behind `stepwise serve` (%s), %lld requests (prompts %lld-%lld, new "
              "%lld-%lld tokens, seed %llu), %lld generated tokens, C++ client over loopback\n",
              f.preset.c_str(),
              f.replicas == 1 ? "its in-process worker group"
                              : (std::to_string(f.replicas) + " `stepwise worker` replicas").c_str(),
              static_cast<long long>(f.shape.requests), static_cast<long long>(f.shape.prompt_min),
              static_cast<long long>(f.shape.prompt_max), static_cast<long long>(f.shape.new_min),
              static_cast<long long>(f.shape.new_max), static_cast<unsigned long long>(f.shape.seed),
              static_cast<long long>(w.total_new));
  print_summary_row("one at a time", s1);
  print_summary_row("all at once", sn);
  std::printf("  ratio %.2fx aggregate tokens/s; outputs identical for %lld of %lld requests\n",
              sn.tokens_per_s / s1.tokens_per_s, static_cast<long long>(identical),
              static_cast<long long>(f.shape.requests));
  const nlohmann::json result = {{"bench", "grpc"},
                                 {"preset", f.preset},
                                 {"replicas", f.replicas},
                                 {"requests", f.shape.requests},
                                 {"generated_tokens", w.total_new},
                                 {"one_at_a_time", summary_json(s1)},
                                 {"all_at_once", summary_json(sn)},
                                 {"ratio", sn.tokens_per_s / s1.tokens_per_s},
                                 {"identical_outputs", identical}};
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace

void add_bench_grpc(CommandLine& cli, CLI::App& bench) {
  auto flags = std::make_shared<GrpcBenchFlags>();
  CLI::App& command = add_command(
      bench, "grpc", "the gRPC server under load: many streams at once vs one at a time (tokens/s, TTFT, ITL)",
      "stepwise bench grpc --preset qwen3-tiny --requests 32\n"
      "stepwise bench grpc --replicas 2 --requests 64 --server-flags '--max-tokens-per-step 1024'",
      "Starts `stepwise serve` on random weights of --preset written to a temporary folder (with --replicas K > 1, a\n"
      "model-less coordinator and K `stepwise worker` processes, each with cores / K OpenMP threads unless\n"
      "OMP_NUM_THREADS is set), then sends the greedy requests one after another and all at once over loopback.\n"
      "Time to first token is counted from the moment all are sent.");
  add_preset_flag(command, flags->preset);
  at_least(command.add_option("--replicas", flags->replicas, "worker processes serving the model")->type_name("K"), 1);
  command.add_option("--server-flags", flags->server_flags, "more flags for `serve` (or `worker`): engine flags")
      ->type_name("FLAGS");
  add_workload_flags(command, flags->shape);
  cli.on_run(command, [flags] { return bench_grpc(*flags); });
}

}  // namespace stepwise::cli
