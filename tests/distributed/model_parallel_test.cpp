// Tensor- and data-parallel Qwen3 under mpirun against the single-process model computed in the same process and
// against the Hugging Face float64 references: checkpoint shards, logits, loss, gathered gradients, gradient norms,
// three AdamW steps (plain DP and ZeRO-1, which must also equal each other) and greedy generation, for every
// TP x DP layout of the world (2 ranks: TP=2, DP=2; 4 ranks: TP=2 x DP=2, DP=4); KV heads that do not divide by
// the TP size are an error naming both numbers.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "../model/fixture.h"
#include "core/status.h"
#include "distributed/process_grid.h"
#include "distributed/tensor_parallel.h"
#include "infer/generate.h"
#include "model/hf_model.h"
#include "train/adamw.h"

namespace stepwise::testing {
namespace {

constexpr double kParallelTolerance = 1e-5;  // relative, against the single-process run

struct Layout {
  int tp, dp;
  bool zero1;
};

int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// The fixture's rows dealt round-robin to the DP ranks (with more ranks than rows, some get none).
TokenBatch rows_of_dp_rank(const Fixture& fx, int dp_rank, int dp_size) {
  TokenBatch b;
  for (int64_t r = dp_rank; r < fx.rows; r += dp_size) b.add_document(fx.row_tokens(r), fx.row_labels(r));
  return b;
}

// The full tensor of a parameter on every TP rank: each rank writes its shard into zeros and the TP group sums.
std::vector<float> gather_full(const Parameter& p, const Tensor& shard, Communicator& tp) {
  if (p.shard_dim < 0) return shard.to_f32_vector();
  Tensor full = Tensor::zeros(p.full_shape, DType::kF32);
  const std::vector<float> mine = shard.to_f32_vector();
  const int64_t rows = shard.size(0), cols = shard.size(1), full_cols = p.full_shape[1];
  float* f = full.data_as<float>();
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      (p.shard_dim == 0 ? f[(p.shard_start + i) * full_cols + j] : f[i * full_cols + p.shard_start + j]) =
          mine[i * cols + j];
  tp.all_reduce(full, ReduceOp::kSum);
  return full.to_f32_vector();
}

std::vector<double> as_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

double rel(double ours, double ref) { return std::fabs(ours - ref) / std::fabs(ref); }

class ParallelQwen3 : public ::testing::TestWithParam<std::tuple<std::string, Layout>> {
 protected:
  void SetUp() override {
    fixture_ = std::get<0>(GetParam());
    layout_ = std::get<1>(GetParam());
    fx_ = std::make_unique<Fixture>(Fixture::load(fixture_));
    grid_ = make_process_grid(layout_.tp, Device::kCPU, layout_.dp);
    ref_ = load_hf_model(fx_->dir, ModelOptions{});
    model_ = parallel_model();
    batch_ = fx_->packed_batch();
    local_ = rows_of_dp_rank(*fx_, grid_.dp_rank, grid_.dp_size);
    global_tokens_ = sum_over_ranks(*grid_.dp, local_.num_targets());
  }
  std::unique_ptr<Qwen3Model> parallel_model() const {
    ModelOptions options;
    options.tp = grid_.tp.get();
    options.flat_block_multiple = layout_.dp;
    return load_hf_model(fx_->dir, options);
  }
  // One micro-batch's forward and backward on this DP rank's rows, loss normalised by the global token count;
  // returns the global mean loss.
  double forward_backward(Qwen3Model& m) {
    m.zero_grads();
    LossSum local;
    if (local_.size() > 0) local = m.forward_backward(local_, 1.0f / static_cast<float>(global_tokens_));
    m.finish_gradients();
    return sum_over_ranks(*grid_.dp, local.sum) / static_cast<double>(global_tokens_);
  }
  double ref_forward_backward() {
    ref_->zero_grads();
    const LossSum loss = ref_->forward_backward(batch_, 1.0f / static_cast<float>(batch_.num_targets()));
    ref_->finish_gradients();
    return loss.mean();
  }
  void report(const char* what, double err) const {
    if (grid_.is_root())
      std::printf("[%s tp=%d dp=%d%s] %s: %.3g\n", fixture_.c_str(), layout_.tp, layout_.dp,
                  layout_.zero1 ? " zero1" : "", what, err);
  }

  std::string fixture_;
  Layout layout_{};
  std::unique_ptr<Fixture> fx_;
  ProcessGrid grid_;
  std::unique_ptr<Qwen3Model> ref_, model_;
  TokenBatch batch_, local_;
  int64_t global_tokens_ = 0;
};

// Each rank's shard is its slice of the checkpoint (the shards reassemble every tensor), and loading uses only
// that slice: a copy of the checkpoint with every element outside this rank's slices set to NaN loads the same.
TEST_P(ParallelQwen3, ShardsAreTheRanksSlicesOfTheCheckpoint) {
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(fx_->dir);
  std::vector<std::pair<std::string, Tensor>> poisoned;
  for (const Parameter& p : model_->parameters()) {
    Tensor full = Tensor::empty(p.full_shape, DType::kF32);
    ckpt.read_f32(p.name, full);
    const std::vector<float> whole = full.to_f32_vector();
    ASSERT_EQ(gather_full(p, p.value, *grid_.tp), whole) << p.name << ": the TP shards do not reassemble it";
    if (p.shard_dim < 0) {
      poisoned.emplace_back(p.name, full);
      continue;
    }
    const int64_t extent = p.full_shape[p.shard_dim], chunk = (extent + layout_.tp - 1) / layout_.tp;
    EXPECT_EQ(p.value.size(p.shard_dim), std::min(chunk, extent - p.shard_start)) << p.name;
    const int64_t cols = p.full_shape[1], mine = p.value.size(p.shard_dim);
    float* f = full.data_as<float>();
    for (int64_t i = 0; i < full.numel(); ++i) {
      const int64_t at = p.shard_dim == 0 ? i / cols : i % cols;
      if (at < p.shard_start || at >= p.shard_start + mine) f[i] = NAN;
    }
    poisoned.emplace_back(p.name, full);
  }
  const std::string path =
      ::testing::TempDir() + "/poisoned-" + fixture_ + "-rank" + std::to_string(grid_.world_rank) + ".safetensors";
  write_safetensors(path, poisoned);
  ModelOptions options;
  options.tp = grid_.tp.get();
  Qwen3Model from_poisoned(fx_->config, options);
  from_poisoned.load(SafetensorsCheckpoint::open(path));
  for (size_t i = 0; i < model_->parameters().size(); ++i)
    ASSERT_EQ(from_poisoned.parameters()[i].value.to_f32_vector(), model_->parameters()[i].value.to_f32_vector())
        << model_->parameters()[i].name << ": loading read outside this rank's slice";
  std::remove(path.c_str());
}

TEST_P(ParallelQwen3, LossGradientsAndLogitsMatchSingleProcess) {
  const double ref_loss = ref_forward_backward();
  AdamW opt(*model_, AdamWConfig{}, *grid_.dp, layout_.zero1);
  const double loss = forward_backward(*model_);
  const double norm = opt.reduce_gradients();
  const double ref_norm = global_grad_norm(ref_->parameters(), ref_->tp());
  report("loss rel error vs single process", rel(loss, ref_loss));
  report("grad norm rel error vs single process", rel(norm, ref_norm));
  EXPECT_LE(rel(loss, ref_loss), kParallelTolerance);
  EXPECT_LE(rel(loss, fx_->ref_f64("loss")[0]), 1e-6);
  EXPECT_LE(rel(norm, ref_norm), kParallelTolerance);
  EXPECT_LE(rel(norm, fx_->ref_f64("adamw_grad_norms_before_clip")[0]), kParallelTolerance);
  if (!layout_.zero1) {  // ZeRO-1 leaves each rank only its slice of the summed gradients
    double worst = 0;
    for (size_t i = 0; i < model_->parameters().size(); ++i) {
      const Parameter &p = model_->parameters()[i], &r = ref_->parameters()[i];
      ASSERT_EQ(p.name, r.name);
      const std::vector<float> g = gather_full(p, p.grad, *grid_.tp);
      const double err = norm_rel_error(g, as_double(r.grad.to_f32_vector()));
      worst = std::max(worst, err);
      EXPECT_LE(err, kParallelTolerance) << p.name;
      EXPECT_LE(norm_rel_error(g, fx_->ref_f64("grad." + p.name)), 1e-4) << p.name;
    }
    report("worst gathered gradient rel error vs single process", worst);
  }
  const std::vector<float> logits =
      gather_vocab_parallel_logits(model_->tp(), model_->forward_logits(batch_), fx_->config.vocab_size);
  const double logit_err = max_rel_error(logits, as_double(ref_->forward_logits(batch_).to_f32_vector()));
  report("logits max rel error vs single process", logit_err);
  EXPECT_LE(logit_err, kParallelTolerance);
  EXPECT_LE(max_rel_error(logits, fx_->ref_f64("logits")), 1e-5);
}

TEST_P(ParallelQwen3, ThreeAdamWStepsMatchSingleProcess) {
  AdamW ref_opt(ref_->parameters(), AdamWConfig{});
  AdamW opt(*model_, AdamWConfig{}, *grid_.dp, layout_.zero1);
  std::unique_ptr<Qwen3Model> plain;  // ZeRO-1 layouts: the same run with a plain all-reduce, to compare
  std::unique_ptr<AdamW> plain_opt;
  if (layout_.zero1) {
    plain = parallel_model();
    plain_opt = std::make_unique<AdamW>(*plain, AdamWConfig{}, *grid_.dp, false);
  }
  const std::vector<double> hf_losses = fx_->ref_f64("adamw_step_losses");
  double worst_step = 0;
  for (int step = 0; step < 3; ++step) {
    const double ref_loss = ref_forward_backward();
    const double ref_norm = global_grad_norm(ref_->parameters(), ref_->tp());
    const double loss = forward_backward(*model_);
    const double norm = opt.reduce_gradients();
    worst_step = std::max({worst_step, rel(loss, ref_loss), rel(norm, ref_norm)});
    EXPECT_LE(rel(loss, ref_loss), kParallelTolerance) << "step " << step;
    EXPECT_LE(rel(norm, ref_norm), kParallelTolerance) << "step " << step;
    EXPECT_LE(rel(loss, hf_losses[step]), 1e-5) << "step " << step;
    ref_opt.step(1e-2f, ref_norm);
    opt.step(1e-2f, norm);
    if (plain) {
      forward_backward(*plain);
      plain_opt->step(1e-2f, plain_opt->reduce_gradients());
    }
  }
  report("worst step loss / grad norm rel error vs single process", worst_step);
  // Per tensor, the two runs may differ by the single-process run's own f32 error: AdamW's first step moves an
  // element with a gradient near eps by lr * g / (|g| + eps), so a 3% error in a 1e-7 gradient (f32 rounding, in
  // either run) moves that weight by ~1e-4 * lr. The float64 reference tells which run is off.
  double worst = 0, worst_plain = 0, diff2 = 0, ref2 = 0;
  for (size_t i = 0; i < model_->parameters().size(); ++i) {
    const Parameter &p = model_->parameters()[i], &r = ref_->parameters()[i];
    const std::vector<float> w = gather_full(p, p.value, *grid_.tp), single = r.value.to_f32_vector();
    const std::vector<double> hf = fx_->ref_f64("after3." + p.name);
    const double err = norm_rel_error(w, as_double(single)), single_vs_hf = norm_rel_error(single, hf);
    worst = std::max(worst, err);
    for (size_t j = 0; j < w.size(); ++j) {
      diff2 += (w[j] - static_cast<double>(single[j])) * (w[j] - static_cast<double>(single[j]));
      ref2 += static_cast<double>(single[j]) * single[j];
    }
    EXPECT_LE(err, kParallelTolerance + single_vs_hf)
        << p.name << " (the single-process run is " << single_vs_hf << " from the float64 reference; this run "
        << norm_rel_error(w, hf) << ")";
    EXPECT_LE(norm_rel_error(w, hf), 1e-4) << p.name;
    if (plain) {
      const Parameter& q = plain->parameters()[i];
      const double e = norm_rel_error(w, as_double(gather_full(q, q.value, *grid_.tp)));
      worst_plain = std::max(worst_plain, e);
      EXPECT_LE(e, kParallelTolerance) << p.name << ": ZeRO-1 differs from plain DP";
    }
  }
  const double model_err = std::sqrt(diff2 / ref2);
  report("parameters after 3 AdamW steps, whole-model rel error vs single process", model_err);
  report("parameters after 3 AdamW steps, worst tensor rel error vs single process", worst);
  EXPECT_LE(model_err, kParallelTolerance);
  if (plain) report("parameters after 3 steps, worst tensor rel error ZeRO-1 vs plain DP", worst_plain);
  const double after = model_->forward_loss(batch_).mean();
  EXPECT_LE(rel(after, fx_->ref_f64("adamw_loss_after_3_steps")[0]), 1e-5);
  EXPECT_EQ(opt.steps_taken(), 3);
}

TEST_P(ParallelQwen3, GreedyGenerationMatchesSingleProcess) {
  GenerateRequest req;
  const std::vector<int64_t> prompt = fx_->ref.read_i64("greedy_prompt");
  req.prompt.assign(prompt.begin(), prompt.end());
  req.max_new_tokens = 16;
  EXPECT_EQ(generate(*model_, req), generate(*ref_, req));
}

// A rank's optimizer shard saved after two steps and loaded into a fresh optimizer continues exactly: the third
// step gives the same parameters bit for bit. A file from another DP layout is refused, naming both layouts.
TEST_P(ParallelQwen3, OptimizerShardResumesExactly) {
  AdamW opt(*model_, AdamWConfig{}, *grid_.dp, layout_.zero1);
  for (int step = 0; step < 2; ++step) {
    forward_backward(*model_);
    opt.step(1e-2f, opt.reduce_gradients());
  }
  const std::string path =
      ::testing::TempDir() + "/adamw-" + fixture_ + "-rank" + std::to_string(grid_.world_rank) + ".safetensors";
  opt.save_state(path);
  std::unique_ptr<Qwen3Model> resumed = parallel_model();
  resumed->param_block().copy_from(model_->param_block());
  AdamW resumed_opt(*resumed, AdamWConfig{}, *grid_.dp, layout_.zero1);
  resumed_opt.load_state(path);
  EXPECT_EQ(resumed_opt.steps_taken(), 2);
  for (Qwen3Model* m : {model_.get(), resumed.get()}) {
    AdamW& o = m == model_.get() ? opt : resumed_opt;
    forward_backward(*m);
    o.step(1e-2f, o.reduce_gradients());
  }
  EXPECT_EQ(resumed->param_block().to_f32_vector(), model_->param_block().to_f32_vector());
  if (layout_.zero1) {
    AdamW other_layout(*resumed, AdamWConfig{}, *grid_.dp, /*zero1=*/false);
    try {
      other_layout.load_state(path);
      ADD_FAILURE() << "a ZeRO-1 shard loaded into a plain DP optimizer";
    } catch (const StatusError& e) {
      EXPECT_NE(std::string(e.what()).find("zero1 1; this run has dp_rank"), std::string::npos) << e.what();
    }
  }
  std::remove(path.c_str());
}

std::string layout_name(const ::testing::TestParamInfo<std::tuple<std::string, Layout>>& info) {
  const Layout l = std::get<1>(info.param);
  std::string name =
      std::get<0>(info.param) + "_tp" + std::to_string(l.tp) + "_dp" + std::to_string(l.dp) + (l.zero1 ? "_zero1" : "");
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
}

// The layouts of this job's world size (read from the launcher's environment: the parameters are generated before
// main() starts MPI). tiny-b's 3 KV heads allow no TP > 1 (see TensorParallelErrors).
std::vector<std::tuple<std::string, Layout>> cases_for_this_world() {
  const char* env = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!env) env = std::getenv("PMI_SIZE");
  const int world = env ? std::atoi(env) : 1;
  std::vector<std::tuple<std::string, Layout>> cases;
  for (const char* fixture : {"qwen3-tiny-a", "qwen3-tiny-b"})
    for (int tp : {1, 2})
      for (bool zero1 : {false, true}) {
        if (world % tp != 0 || world == 1 || (tp > 1 && std::string(fixture) == "qwen3-tiny-b")) continue;
        if (world / tp == 1 && zero1) continue;  // ZeRO-1 needs DP > 1
        cases.emplace_back(fixture, Layout{tp, world / tp, zero1});
      }
  return cases;
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ParallelQwen3);
INSTANTIATE_TEST_SUITE_P(Layouts, ParallelQwen3, ::testing::ValuesIn(cases_for_this_world()), layout_name);

TEST(FlatBlocks, PaddedToTheRequestedMultipleWithF32WeightsLaidOutAsGradients) {
  const Fixture fx = Fixture::load("qwen3-tiny-b");
  for (int64_t multiple : {1, 3, 5, 7}) {
    ModelOptions options;
    options.flat_block_multiple = multiple;
    Qwen3Model m(fx.config, options);
    const Tensor grads = m.grad_block(), values = m.param_block();
    EXPECT_EQ(grads.numel() % multiple, 0) << multiple;
    EXPECT_EQ(values.numel(), grads.numel());
    for (const Parameter& p : m.parameters())
      EXPECT_EQ(static_cast<const char*>(p.value.data()) - static_cast<const char*>(values.data()),
                static_cast<const char*>(p.grad.data()) - static_cast<const char*>(grads.data()))
          << p.name;
  }
}

// Errors are raised on every rank alike (the configs are the same), so no rank is left in a collective.
void expect_tp_error(const std::string& fixture, int tp, const std::string& kv_heads) {
  const ProcessGrid grid = make_process_grid(tp, Device::kCPU);
  ModelOptions options;
  options.tp = grid.tp.get();
  try {
    load_hf_model(Fixture::load(fixture).dir, options);
    FAIL() << fixture << " with TP=" << tp << " should be refused";
  } catch (const StatusError& e) {
    const std::string m = e.what();
    EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(m.find("num_key_value_heads (" + kv_heads + ")"), std::string::npos) << m;
    EXPECT_NE(m.find("tensor-parallel size (" + std::to_string(tp) + ")"), std::string::npos) << m;
  }
}

TEST(TensorParallelErrors, KvHeadsNotDivisibleByTpNameBothNumbers) {
  if (world_size() % 2 == 0) expect_tp_error("qwen3-tiny-b", 2, "3");
  if (world_size() == 4) expect_tp_error("qwen3-tiny-a", 4, "2");
}

}  // namespace
}  // namespace stepwise::testing
