// `stepwise bench serve`: the serving engine's throughput and latency with many requests at once, against the same
// requests answered one at a time through the single-sequence path (infer/generate.h), in the same run on the same
// model. Requests have mixed prompt and output lengths drawn from a fixed seed, are greedy and run to their full
// length; all are submitted at time 0 in both runs, so time to first token counts the wait of a request behind the
// others. Reported: aggregate generated tokens/s, time to first token and inter-token latency (p50 / p99).
#include <cstdio>
#include <memory>

#include "cli/bench_gpu_common.h"
#include "cli/benchmarks.h"
#include "cli/command_line.h"
#include "cli/flags.h"
#include "cli/serving_flags.h"
#include "cli/serving_workload.h"
#include "infer/engine.h"
#include "infer/generate.h"

namespace stepwise::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct ServeBenchFlags {
  std::string preset = "qwen3-tiny", device = "cpu", accumulation = "float32", baseline_path;
  WorkloadShape shape;
  EngineOptions engine;
};

Timings one_at_a_time(Qwen3Model& model, const Workload& w) {
  Timings t;
  t.arrivals.resize(w.prompts.size());
  t.tokens.resize(w.prompts.size());
  const Clock::time_point t0 = Clock::now();
  for (size_t i = 0; i < w.prompts.size(); ++i) {
    GenerateRequest g;
    g.prompt = w.prompts[i];
    g.max_new_tokens = w.new_tokens[i];
    t.tokens[i] = generate(model, g, [&](int32_t) { t.arrivals[i].push_back(seconds_since(t0)); });
  }
  t.wall = seconds_since(t0);
  return t;
}

Timings batched(ServingEngine& engine, const Workload& w) {
  Timings t;
  t.arrivals.resize(w.prompts.size());
  t.tokens.resize(w.prompts.size());
  const Clock::time_point t0 = Clock::now();
  for (size_t i = 0; i < w.prompts.size(); ++i) {
    GenerationRequest r;
    r.prompt = w.prompts[i];
    r.max_tokens = w.new_tokens[i];
    r.ignore_eos = true;
    engine.submit(r, [&t, &t0, i](const GenerationChunk& c) {
      for (int32_t id : c.token_ids) {
        t.tokens[i].push_back(id);
        t.arrivals[i].push_back(seconds_since(t0));
      }
    });
  }
  engine.run_until_idle();
  t.wall = seconds_since(t0);
  return t;
}

int bench_serve(const ServeBenchFlags& f) {
  std::unique_ptr<Qwen3Model> model;
  if (f.device == "cuda") {
    require_gpu("serve --device cuda");
    model = random_gpu_model(f.preset);
  } else {
    ModelOptions options;
    options.cpu_accumulation =
        f.accumulation == "float64" ? kernels::CpuAccumulation::kFloat64 : kernels::CpuAccumulation::kFloat32;
    model = std::make_unique<Qwen3Model>(qwen3_preset(f.preset), options);
    model->init_random(0);
  }
  const Workload w = make_workload(f.shape, model->config().vocab_size, model->config().max_position_embeddings);
  ServingEngine engine(*model, nullptr, f.engine);
  const EngineStats pool = engine.stats();
  const nlohmann::json base = load_baseline(f.baseline_path, "decode");

  // Warm-up: one short request through each path (allocations, first-touch of the buffers).
  Workload warm;
  warm.prompts = {w.prompts.front()};
  warm.new_tokens = {4};
  warm.total_new = 4;
  one_at_a_time(*model, warm);
  batched(engine, warm);

  const Timings single = one_at_a_time(*model, w);
  const Timings many = batched(engine, w);
  const int64_t identical = identical_outputs(single, many);
  const Summary s1 = summarize(single, w.total_new), sn = summarize(many, w.total_new);

  std::printf("bench serve: %s on %s (%s accumulation), %lld requests (prompts %lld-%lld, new %lld-%lld tokens, "
              "seed %llu), %lld generated tokens\n",
              f.preset.c_str(), f.device == "cuda" ? gpu_name().c_str() : "the CPU",
              f.device == "cuda" ? "f32 on bf16" : f.accumulation.c_str(), static_cast<long long>(f.shape.requests),
              static_cast<long long>(f.shape.prompt_min), static_cast<long long>(f.shape.prompt_max),
              static_cast<long long>(f.shape.new_min), static_cast<long long>(f.shape.new_max),
              static_cast<unsigned long long>(f.shape.seed), static_cast<long long>(w.total_new));
  std::printf("  engine: %lld KV blocks of %lld tokens, budget %lld tokens per step, %lld steps, %lld preemptions\n",
              static_cast<long long>(pool.num_blocks), static_cast<long long>(pool.block_size),
              static_cast<long long>(f.engine.max_tokens_per_step), static_cast<long long>(engine.stats().steps),
              static_cast<long long>(engine.stats().preemptions));
  print_summary_row("one at a time", s1);
  print_summary_row("engine, all at once", sn);
  std::printf("  ratio %.2fx aggregate tokens/s; outputs identical for %lld of %lld requests%s\n",
              sn.tokens_per_s / s1.tokens_per_s, static_cast<long long>(identical),
              static_cast<long long>(f.shape.requests),
              f.accumulation == "float32" || f.device == "cuda"
                  ? " (f32 sums depend on the batch's shape; with --accumulation float64 all are)"
                  : "");
  nlohmann::json result = {{"bench", "serve"},
                           {"preset", f.preset},
                           {"device", f.device == "cuda" ? gpu_name() : "cpu"},
                           {"requests", f.shape.requests},
                           {"generated_tokens", w.total_new},
                           {"tokens_per_s", sn.tokens_per_s},
                           {"one_at_a_time", summary_json(s1)},
                           {"engine", summary_json(sn)},
                           {"ratio", sn.tokens_per_s / s1.tokens_per_s},
                           {"identical_outputs", identical}};
  if (!base.is_null() && base.contains("B64_tokens_per_s")) {
    const double theirs = base.at("B64_tokens_per_s").get<double>();
    std::printf("  HF generate, batch 64 (PyTorch eager) %.0f tokens/s: engine %.2fx\n", theirs,
                sn.tokens_per_s / theirs);
    result["hf_b64_tokens_per_s"] = theirs;
  }
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace

void add_bench_serve(CommandLine& cli, CLI::App& bench) {
  auto flags = std::make_shared<ServeBenchFlags>();
  CLI::App& command = add_command(
      bench, "serve", "the serving engine with many requests at once vs one at a time (tokens/s, TTFT, ITL)",
      "stepwise bench serve --preset qwen3-tiny --requests 32\n"
      "stepwise bench serve --device cuda --preset qwen3-0.6b --requests 64 --prompt-min 128 --prompt-max 128 "
      "--new-min 256 --new-max 256 --baseline hf_baseline.json",
      "Random weights of --preset; greedy requests with prompt and output lengths drawn uniformly from the ranges\n"
      "(fixed --seed), all submitted at once: first through the single-sequence path one after another, then\n"
      "through the engine. Time to first token is counted from that common start.");
  add_preset_flag(command, flags->preset);
  one_of(command.add_option("--device", flags->device, "where the model runs")->type_name("DEVICE"), {"cpu", "cuda"});
  one_of(command.add_option("--accumulation", flags->accumulation, "CPU matmul and attention sums")->type_name("A"),
         {"float32", "float64"});
  add_workload_flags(command, flags->shape);
  add_engine_flags(command, flags->engine);
  add_baseline_flag(command, flags->baseline_path);
  cli.on_run(command, [flags] { return bench_serve(*flags); });
}

}  // namespace stepwise::cli
