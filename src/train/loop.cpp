// The SFT training loop (single-process and multi-rank alike: every collective goes through the grid).
#include "train/loop.h"

#include <chrono>
#include <cstdarg>
#include <cmath>
#include <filesystem>
#include <optional>

#include "core/status.h"
#include "distributed/data_parallel.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "train/training_checkpoint.h"
#include "train/loader.h"
#include "train/loss_plot.h"
#include "train/metrics.h"
#include "train/progress.h"
#include "train/trainer_optimizer.h"

namespace stepwise {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Qwen3Config model_config(const ModelSection& m) {
  if (m.config.rfind("hf:", 0) == 0) return load_qwen3_config(m.config.substr(3) + "/config.json");
  return qwen3_preset(m.config);
}

std::unique_ptr<Qwen3Model> build_model(const TrainConfig& cfg, ProcessGrid& grid) {
  const Qwen3Config config = model_config(cfg.model);
  ModelOptions options;
  options.device = cfg.run.device;
  options.compute_dtype = cfg.run.device == Device::kCUDA ? DType::kBF16 : DType::kF32;
  options.tp = grid.tp.get();
  options.flat_block_multiple = cfg.run.zero1 ? grid.dp_size : 1;
  options.cpu_accumulation = cfg.run.cpu_accumulation;
  auto model = std::make_unique<Qwen3Model>(config, options);
  const ModelInit& init = cfg.model.init;
  switch (init.kind) {
    case ModelInit::Kind::kRandom:
      model->init_random(cfg.run.seed, static_cast<float>(cfg.model.init_std));
      break;
    case ModelInit::Kind::kHuggingFace:
      if (qwen3_config_to_json(load_qwen3_config(init.dir + "/config.json")) != qwen3_config_to_json(config))
        invalid_argument(cfg.source, ": model.init hf:", init.dir, " holds another model than model.config ",
                         cfg.model.config, "; set model.config: hf:", init.dir);
      model->load(SafetensorsCheckpoint::open(init.dir));
      break;
    case ModelInit::Kind::kCheckpoint:
      load_weights_from_checkpoint(init.dir, *model);
      break;
  }
  return model;
}

// Rank 0's progress output: whole lines, each after the run's prefix, written with one call so that runs side
// by side on one stream never split each other's lines. Without a stream it prints nothing.
class RunLog {
 public:
  RunLog(std::FILE* out, std::string prefix) : out_(out), prefix_(std::move(prefix)) {}
  __attribute__((format(printf, 2, 3))) void line(const char* format, ...) const {
    if (!out_) return;
    char buf[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(buf, sizeof buf, format, args);
    va_end(args);
    const std::string text = prefix_ + buf + "\n";
    std::fwrite(text.data(), 1, text.size(), out_);
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  std::string prefix_;
};

// "step 120/1000  loss 1.2345  lr 2.95e-04  grad norm 0.812  2,345 tok/s  elapsed 1m05s  ETA 9m12s"
void log_step(const RunLog& log, const StepRecord& r, int64_t total, double tokens_per_s, double elapsed,
              double eta) {
  log.line("step %*lld/%lld  loss %.4f  lr %.3e  grad norm %.3f  %.0f tok/s  elapsed %s  ETA %s",
           static_cast<int>(std::to_string(total).size()), static_cast<long long>(r.step),
           static_cast<long long>(total), r.loss, r.lr, r.grad_norm, tokens_per_s, format_duration(elapsed).c_str(),
           format_duration(eta).c_str());
}

}  // namespace

ProcessGrid make_training_grid(const RunSection& run) {
  return make_process_grid(run.tp, run.device, run.dp);
}

StepLoss accumulate_gradients(Qwen3Model& model, const std::vector<TokenBatch>& micro_batches, Communicator& dp) {
  int64_t targets = 0, tokens = 0;
  for (const TokenBatch& b : micro_batches) {
    targets += b.num_targets();
    tokens += b.size();
  }
  StepLoss out;
  out.loss.count = sum_over_dp(dp, targets);
  out.tokens = sum_over_dp(dp, tokens);
  const float scale = out.loss.count > 0 ? 1.0f / static_cast<float>(out.loss.count) : 0.0f;
  double sum = 0;
  for (const TokenBatch& b : micro_batches) sum += model.forward_backward(b, scale).sum;
  out.loss.sum = sum_over_dp(dp, sum);
  return out;
}

LossSum evaluate_loss(Qwen3Model& model, const std::vector<TokenBatch>& batches, Communicator& dp) {
  LossSum local;
  for (const TokenBatch& b : batches) {
    const LossSum l = model.forward_loss(b);
    local.sum += l.sum;
    local.count += l.count;
  }
  return {sum_over_dp(dp, local.sum), sum_over_dp(dp, local.count)};
}

TrainResult run_sft(const TrainConfig& cfg, const RunOptions& opts) {
  TrainResult result;
  result.grid = make_training_grid(cfg.run);
  ProcessGrid& grid = result.grid;
  const RunLog log(grid.is_root() ? opts.log : nullptr, opts.log_prefix);
  const std::string run_dir = cfg.run.output_dir, ckpt_root = run_dir + "/checkpoints";

  // Data first: a bad dataset should fail before a large model is built.
  LoaderOptions lo;
  lo.row_length = cfg.batch.row_length;
  lo.rows_per_micro_batch = cfg.batch.micro_batch_rows;
  lo.dp_rank = grid.dp_rank;
  lo.dp_size = grid.dp_size;
  lo.seed = cfg.run.seed;
  SftDataLoader train(cfg.data.train, lo);
  std::optional<SftDataLoader> eval;
  if (!cfg.data.eval.empty()) eval.emplace(cfg.data.eval, lo);
  const int64_t accum = cfg.batch.grad_accum_steps;
  LrSchedule schedule = cfg.optimizer.schedule;
  schedule.total_steps = cfg.train.steps > 0
                             ? cfg.train.steps
                             : std::max<int64_t>(1, std::llround(cfg.train.epochs *
                                                                 static_cast<double>(train.steps_per_epoch(accum))));
  result.total_steps = schedule.total_steps;

  result.model = build_model(cfg, grid);
  Qwen3Model& model = *result.model;
  for (const SftDataLoader* l : {&train, eval ? &*eval : nullptr})
    if (l && l->vocab_bound() > model.config().vocab_size)
      invalid_argument("dataset ", l->dir(), " has token ids up to ", l->vocab_bound() - 1, " but the model's ",
                       "vocabulary has ", model.config().vocab_size, " entries: prepared with another tokenizer?");
  model.reserve_training(cfg.batch.micro_batch_rows * cfg.batch.row_length);
  TrainerOptimizer optimizer(model, cfg.optimizer, grid, cfg.run.zero1);

  TrainerState state;
  const std::string existing = latest_checkpoint(ckpt_root);
  if (!existing.empty() && !opts.resume)
    invalid_argument("run directory ", run_dir, " already has checkpoints (newest: ", existing, "); pass --resume ",
                     "to continue that run, or choose another run.output_dir");
  if (!existing.empty()) {
    state = load_checkpoint(existing, model, optimizer, grid, cfg.run.zero1);
    if (state.loader_saved) train.seek(state.loader);
    log.line("resumed from %s: step %lld, %lld tokens seen", existing.c_str(), static_cast<long long>(state.step),
             static_cast<long long>(state.tokens_seen));
  } else if (opts.resume) {
    log.line("no checkpoint in %s yet: starting at step 0", ckpt_root.c_str());
  }
  std::optional<MetricsLog> metrics;
  if (grid.is_root()) {
    std::filesystem::create_directories(run_dir);
    write_file_atomic(run_dir + "/config.yaml", cfg.to_yaml());
    metrics.emplace(run_dir + "/metrics.jsonl", existing.empty() ? -1 : state.step);
    log.line("training %s (%.1fM parameters) on %s: %lld documents, %lld tokens, %lld rows of %lld per epoch; "
             "%lld steps of %lld x %lld x %lld rows (micro-batch x accumulation x dp)",
             cfg.model.config.c_str(), static_cast<double>(model.config().num_parameters()) / 1e6,
             cfg.data.train.c_str(), static_cast<long long>(train.num_documents()),
             static_cast<long long>(train.num_tokens()), static_cast<long long>(train.rows_per_epoch()),
             static_cast<long long>(cfg.batch.row_length), static_cast<long long>(schedule.total_steps),
             static_cast<long long>(cfg.batch.micro_batch_rows), static_cast<long long>(accum),
             static_cast<long long>(grid.dp_size));
  }
  std::vector<TokenBatch> eval_batches;
  if (eval) eval_batches = eval->eval_batches(cfg.eval.max_batches);

  auto run_eval = [&](int64_t step) {
    const LossSum l = evaluate_loss(model, eval_batches, *grid.dp);
    result.evals.push_back({step, l.mean(), l.count});
    if (metrics) metrics->write({{"step", step}, {"eval_loss", l.mean()}, {"eval_tokens", l.count}});
    log.line("eval at step %lld: loss %.4f over %lld tokens", static_cast<long long>(step), l.mean(),
             static_cast<long long>(l.count));
  };
  auto checkpoint = [&]() {
    state.loader = train.position();
    result.last_checkpoint =
        save_checkpoint(ckpt_root, state, model, optimizer, grid, cfg.run.zero1, cfg.checkpoint.keep_last);
    log.line("checkpoint %s", result.last_checkpoint.c_str());
  };

  result.first_step = state.step;
  const double start = now_s();
  int64_t last_checkpoint_step = existing.empty() ? -1 : state.step, last_eval_step = -1;
  while (state.step < schedule.total_steps) {
    if (opts.stop_after_steps > 0 && state.step - result.first_step >= opts.stop_after_steps) break;
    const double t0 = now_s();
    const std::vector<TokenBatch> batches = train.next_step(accum);
    StepRecord rec;
    rec.lr = learning_rate(schedule, state.step);
    model.zero_grads();
    const StepLoss sl = accumulate_gradients(model, batches, *grid.dp);
    const OptimizerStepResult o = optimizer.step(rec.lr, std::isfinite(sl.loss.sum));
    result.train_seconds += now_s() - t0;
    rec.step = ++state.step;
    rec.loss = sl.loss.mean();
    rec.grad_norm = o.grad_norm;
    rec.tokens = sl.tokens;
    rec.skipped = !o.applied;
    state.tokens_seen += sl.tokens;
    result.train_tokens += sl.tokens;
    result.steps.push_back(rec);

    if (rec.skipped) {
      ++state.skipped_steps;
      ++state.consecutive_bad_steps;
      log.line("step %lld: non-finite loss (%g) or gradient norm (%g): step skipped (%lld in a row; %lld stop the "
               "run)", static_cast<long long>(rec.step), rec.loss, rec.grad_norm,
               static_cast<long long>(state.consecutive_bad_steps), static_cast<long long>(cfg.train.max_bad_steps));
      if (state.consecutive_bad_steps >= cfg.train.max_bad_steps)
        fail(StatusCode::kFailedPrecondition, "training diverged: ", state.consecutive_bad_steps,
             " consecutive steps (through step ", rec.step, ") had a non-finite loss or gradient norm; lower ",
             "optimizer.lr, check the data, or resume from an earlier checkpoint (train.max_bad_steps = ",
             cfg.train.max_bad_steps, ")");
    } else {
      state.consecutive_bad_steps = 0;
    }
    if (metrics && (rec.step % cfg.train.log_every == 0 || rec.step == schedule.total_steps || rec.skipped)) {
      const double done = static_cast<double>(rec.step - result.first_step);
      const double tps = static_cast<double>(result.train_tokens) / std::max(result.train_seconds, 1e-9);
      log_step(log, rec, schedule.total_steps, tps, now_s() - start,
               result.train_seconds / done * static_cast<double>(schedule.total_steps - rec.step));
      metrics->write({{"step", rec.step}, {"total_steps", schedule.total_steps}, {"loss", rec.loss}, {"lr", rec.lr}, {"grad_norm", rec.grad_norm},
                      {"tokens", rec.tokens}, {"tokens_per_s", tps}, {"elapsed_s", now_s() - start},
                      {"skipped", rec.skipped}});
    }
    if (eval && cfg.eval.every > 0 && rec.step % cfg.eval.every == 0) {
      run_eval(rec.step);
      last_eval_step = rec.step;
    }
    if (cfg.checkpoint.every > 0 && rec.step % cfg.checkpoint.every == 0) {
      checkpoint();
      last_checkpoint_step = rec.step;
    }
  }
  result.final_step = state.step;
  const bool finished_now = state.step == schedule.total_steps && result.final_step > result.first_step;
  if (eval && finished_now && last_eval_step != state.step) run_eval(state.step);
  if (last_checkpoint_step != state.step) checkpoint();
  if (grid.is_root()) {
    metrics.reset();
    write_loss_curve_svg(run_dir + "/loss_curve.svg", read_loss_curves(run_dir + "/metrics.jsonl"),
                         "SFT loss: " + cfg.model.config + " on " + cfg.data.train);
    log.line("done: step %lld/%lld, %.0f tokens/s; %s/loss_curve.svg, %s/metrics.jsonl",
             static_cast<long long>(state.step), static_cast<long long>(schedule.total_steps),
             static_cast<double>(result.train_tokens) / std::max(result.train_seconds, 1e-9), run_dir.c_str(),
             run_dir.c_str());
  }
  return result;
}

}  // namespace stepwise
