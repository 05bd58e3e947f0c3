// Tensor- and data-parallel Qwen3 under mpirun against the single-process model computed in the same process and
// against the Hugging Face float64 references, for every TP x DP layout of the world (2 ranks: TP=2, DP=2 plain and
// ZeRO-1; 4 ranks: TP=2 x DP=2 plain and ZeRO-1, DP=4 plain and ZeRO-1). Three separate claims, each with the
// criterion its numerics allow (derivations beside the constants below):
//   1. At the same weights a layout computes the single process's loss, logits, gradient norm and gradients, up to
//      the f32 rounding of the sums it splits over ranks (well conditioned: bounds from u and the split count).
//   2. Given the same gradients and norm, a layout's optimizer (TP shards, DP replicas, ZeRO-1 slices) produces the
//      same parameters and moments bit for bit: AdamW is elementwise.
//   3. End to end (three steps, each layout on its own gradients), only where that is well conditioned: at every
//      step the layout's loss, norm and gradients against the single process at the layout's weights (claim 1's
//      bounds) and its parameters and moments against the single process's optimizer given the layout's gradients
//      (bit for bit); against the float64 run, a different trajectory, the median weight difference of each tensor
//      (fixture.h). Two trajectories' weights, or anything computed from them, are not compared element by element:
//      AdamW's first update, lr * g / (|g| + eps), turns rounding-level gradient differences near eps into O(lr)
//      differences of single weights (issue 11), in either run.
// Also: shards are the ranks' slices of the checkpoint, greedy generation, an optimizer shard resumed bit for bit,
// and KV heads that do not divide by the TP size are an error naming both numbers.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "../common/numerics.h"
#include "../model/fixture.h"
#include "core/status.h"
#include "distributed/process_grid.h"
#include "distributed/tensor_parallel.h"
#include "infer/engine.h"
#include "infer/generate.h"
#include "model/hf_model.h"
#include "train/adamw.h"

namespace stepwise::testing {
namespace {

constexpr float kLr = 1e-2f;  // the fixtures' recipe (AdamWConfig's defaults are the rest of it)

struct Layout {
  int tp, dp;
  bool zero1;
};

// ---- Claim 1: the bounds. ----
// Every layout computes each per-token value the same way (matmuls and attention accumulate in f64 and round once;
// norms and losses are row-wise), so a layout differs from the single process only where it splits a sum over p
// ranks: each rank rounds its partial sum to f32 and the p partials are added in f32, at most p + 1 roundings of
// u = 2^-24 relative to the partials' magnitudes where the single process rounds once. (Reduction lengths enter
// only through f64 accumulation, n * 2^-53 < 1e-13 for the fixtures' n <= 1000.) Split sums:
//   TP forward:  2 per layer (the row-parallel o_proj and down_proj outputs; the embedding's all-reduce adds
//                zeros, which is exact), and the LM head's sums of exponentials (the loss only, see loss_bound);
//   TP backward: 2 per layer (the q/k/v and gate/up input gradients), 1 for the LM head's input gradient and 1
//                for the replicated q/k-norm gradients (finish_gradients);
//   DP:          1, the gradient block (every element: a sum over the DP ranks' documents).
// A relative perturbation at a split sum reaches the checked quantity scaled by the fixtures' conditioning
// (kConditioning, fixture.h: the partials' magnitudes over their sum, about sqrt(p) for independent halves of a
// contraction, times the O(1) gain of the layers that follow).

// Split sums on the path to each quantity, times their p + 1 roundings.
double tp_forward_roundings(const Layout& l, int64_t layers) { return l.tp > 1 ? 2.0 * layers * (l.tp + 1) : 0; }
double tp_backward_roundings(const Layout& l, int64_t layers) {
  return l.tp > 1 ? (2.0 * layers + 2) * (l.tp + 1) : 0;
}
double dp_roundings(const Layout& l) { return l.dp > 1 ? l.dp + 1.0 : 0; }

// Logits (max-norm relative): the forward only. Zero without TP: DP ranks hold the single process's weights.
double logits_bound(const Layout& l, int64_t layers) {
  return tp_forward_roundings(l, layers) * kF32Unit * kConditioning;
}
// The mean loss: what the logits' bound allows (fixture.h: twice their largest change, relative to the loss), plus
// the split sums of positive terms, which no conditioning amplifies: over TP the LM head's sums of exponentials
// (log-sum-exp moves by their relative error, at most (tp + 1) u, which relative to a loss above 1 nat is less),
// over DP the ranks' loss sums.
double loss_bound(const Layout& l, int64_t layers, double scale) {
  return loss_bound_from_logits(logits_bound(l, layers), scale) +
         ((l.tp > 1 ? l.tp + 1.0 : 0) + dp_roundings(l)) * kF32Unit;
}
// A gradient (per tensor, L2): the whole forward, the backward from the head down, and the DP sum.
double gradient_bound(const Layout& l, int64_t layers) {
  return (tp_forward_roundings(l, layers) + tp_backward_roundings(l, layers) + dp_roundings(l)) * kF32Unit *
         kConditioning;
}
// The norm of all gradients moves by at most their whole-model error, plus the f32 transport of its partial sums
// of squares (sum_over_ranks sends doubles as f32): one rounding per partial and p - 1 additions over TP, and over
// DP with ZeRO-1 (each rank sums its slice); positive terms, and the square root halves the relative error.
double norm_transport_bound(const Layout& l) { return 0.5 * (l.tp + (l.zero1 ? l.dp : 0)) * kF32Unit; }
double norm_bound(const Layout& l, int64_t layers) { return gradient_bound(l, layers) + norm_transport_bound(l); }

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

// Flat index in the full tensor of element i (row-major) of this rank's shard.
int64_t full_index(const Parameter& p, const Shape& shard_shape, int64_t i) {
  if (p.shard_dim < 0) return i;
  const int64_t cols = shard_shape[1], r = i / cols, c = i % cols;
  return p.shard_dim == 0 ? (p.shard_start + r) * cols + c : r * p.full_shape[1] + p.shard_start + c;
}

// The full tensor of a parameter on every TP rank: each rank writes its shard into zeros and the TP group sums.
std::vector<float> gather_full(const Parameter& p, const Tensor& shard, Communicator& tp) {
  if (p.shard_dim < 0) return shard.to_f32_vector();
  Tensor full = Tensor::zeros(p.full_shape, DType::kF32);
  const std::vector<float> mine = shard.to_f32_vector();
  float* f = full.data_as<float>();
  for (int64_t i = 0; i < static_cast<int64_t>(mine.size()); ++i) f[full_index(p, shard.shape(), i)] = mine[i];
  tp.all_reduce(full, ReduceOp::kSum);
  return full.to_f32_vector();
}

// This rank's shard of a parameter's full tensor, in the shard's layout.
std::vector<float> shard_of(const Parameter& p, const std::vector<float>& full) {
  std::vector<float> shard(static_cast<size_t>(p.value.numel()));
  for (int64_t i = 0; i < p.value.numel(); ++i) shard[i] = full[full_index(p, p.value.shape(), i)];
  return shard;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// An optimizer's first and second moments of every parameter, as full tensors (name -> values) on every rank.
// State tensors are "m.<name>" for a whole local shard or "m.<name>[b:e]" for the flat range of it that a ZeRO-1
// slice holds; ZeRO-1 ranks contribute their ranges and the DP group sums them.
struct Moments {
  std::map<std::string, std::vector<float>> m, v;
};
Moments gather_moments(const AdamW& opt, std::vector<Parameter>& params, Communicator& tp, Communicator& dp,
                       bool zero1) {
  std::map<std::string, Tensor> local[2];  // this rank's shards of m and v
  for (const Parameter& p : params)
    for (auto& l : local) l[p.name] = Tensor::zeros(p.value.shape(), DType::kF32);
  for (const auto& [name, t] : opt.state_tensors()) {
    if (name.rfind("m.", 0) != 0 && name.rfind("v.", 0) != 0) continue;  // master weights: bf16 parameters only
    const size_t bracket = name.find('[');
    const std::string param = name.substr(2, bracket == std::string::npos ? std::string::npos : bracket - 2);
    const int64_t begin = bracket == std::string::npos ? 0 : std::stoll(name.substr(bracket + 1));
    Tensor& dst = local[name[0] == 'm' ? 0 : 1].at(param);
    std::memcpy(dst.data_as<float>() + begin, t.data(), t.nbytes());
  }
  Moments out;
  for (Parameter& p : params)
    for (int k = 0; k < 2; ++k) {
      Tensor& shard = local[k].at(p.name);
      if (zero1) dp.all_reduce(shard, ReduceOp::kSum);
      (k == 0 ? out.m : out.v)[p.name] = gather_full(p, shard, tp);
    }
  return out;
}

class ParallelQwen3 : public ::testing::TestWithParam<std::tuple<std::string, Layout>> {
 protected:
  void SetUp() override {
    fixture_ = std::get<0>(GetParam());
    layout_ = std::get<1>(GetParam());
    fx_ = std::make_unique<Fixture>(Fixture::load(fixture_));
    layers_ = fx_->config.num_layers;
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
  // The summed gradients of every parameter after reduce_gradients(), as full tensors on every rank. ZeRO-1 leaves
  // each DP rank only its slice of the flat block: the slices are summed over DP in a copy.
  std::vector<std::vector<float>> reduced_gradients(Qwen3Model& m) const {
    Tensor block = m.grad_block();
    if (layout_.zero1) {
      const int64_t shard = block.numel() / layout_.dp, mine = grid_.dp_rank * shard;
      std::vector<float> slice = block.to_f32_vector();
      for (int64_t i = 0; i < block.numel(); ++i)
        if (i < mine || i >= mine + shard) slice[i] = 0.0f;
      block = Tensor::from_vector(slice, {block.numel()});
      grid_.dp->all_reduce(block, ReduceOp::kSum);
    }
    std::vector<std::vector<float>> out;
    const char* base = static_cast<const char*>(m.grad_block().data());
    for (const Parameter& p : m.parameters()) {
      const int64_t at = (static_cast<const char*>(p.grad.data()) - base) / static_cast<int64_t>(sizeof(float));
      out.push_back(gather_full(p, block.rows(at, at + p.grad.numel()).reshape(p.grad.shape()), *grid_.tp));
    }
    return out;
  }
  // Writes the single process's (summed, finished) gradients into a layout's model, as they would be after its
  // backward: this rank's shard on DP rank 0, zeros on the others, so that the DP sum is exact (g + 0 = g).
  void feed_reference_gradients(Qwen3Model& m) const {
    m.zero_grads();
    if (grid_.dp_rank != 0) return;
    for (size_t i = 0; i < m.parameters().size(); ++i) {
      Parameter& p = m.parameters()[i];
      const std::vector<float> shard = shard_of(p, ref_->parameters()[i].grad.to_f32_vector());
      std::memcpy(p.grad.data(), shard.data(), shard.size() * sizeof(float));
    }
  }
  // Claim 1's checks of a layout's loss, norm and summed gradients against the single process's at the same weights;
  // returns the largest error relative to its bound.
  double expect_single_process_results(double loss, double norm, const std::vector<std::vector<float>>& grads,
                                       double ref_loss, double ref_norm, const std::string& when) {
    const double lb = loss_bound(layout_, layers_, logit_scale(*ref_, batch_, ref_loss));
    EXPECT_LE(rel_error(loss, ref_loss), lb) << when;
    EXPECT_LE(rel_error(norm, ref_norm), norm_bound(layout_, layers_)) << when;
    double worst = 0;
    for (size_t i = 0; i < grads.size(); ++i) {
      const Parameter& r = ref_->parameters()[i];
      const double err = rel_error(grads[i], r.grad.to_f32_vector(), Norm::kL2);
      worst = std::max(worst, err);
      EXPECT_LE(err, gradient_bound(layout_, layers_)) << r.name << " " << when;
    }
    return std::max({rel_error(loss, ref_loss) / lb, rel_error(norm, ref_norm) / norm_bound(layout_, layers_),
                     worst / gradient_bound(layout_, layers_)});
  }
  // Claim 2's check: every parameter, m and v of the layout (gathered over TP, and over DP for ZeRO-1) has the bits
  // of the single process's.
  void expect_same_state(const AdamW& opt, const AdamW& single_opt, const std::string& when) {
    const Moments ours = gather_moments(opt, model_->parameters(), *grid_.tp, *grid_.dp, layout_.zero1);
    const Moments single = gather_moments(single_opt, ref_->parameters(), ref_->tp(), ref_->tp(), false);
    for (size_t i = 0; i < model_->parameters().size(); ++i) {
      const Parameter &p = model_->parameters()[i], &r = ref_->parameters()[i];
      const std::vector<float> w = gather_full(p, p.value, *grid_.tp), ref_w = r.value.to_f32_vector();
      EXPECT_TRUE(same_bits(w, ref_w)) << p.name << " " << when << ": " << rel_error(w, ref_w, Norm::kMax)
                                       << " (max-norm rel) from the single process's optimizer on the same gradients";
      EXPECT_TRUE(same_bits(ours.m.at(p.name), single.m.at(p.name))) << "m." << p.name << " " << when;
      EXPECT_TRUE(same_bits(ours.v.at(p.name), single.v.at(p.name))) << "v." << p.name << " " << when;
    }
  }
  // A figure for the docs, from rank 0.
  void report(const char* what, double err, double bound) const {
    if (grid_.is_root())
      std::printf("[%s tp=%d dp=%d%s] %s: %.3g (bound %.3g)\n", fixture_.c_str(), layout_.tp, layout_.dp,
                  layout_.zero1 ? " zero1" : "", what, err, bound);
  }

  std::string fixture_;
  Layout layout_{};
  int64_t layers_ = 0;
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

// Claim 1: at the checkpoint's weights, the loss, gradient norm, every gradient (ZeRO-1: the slices summed over
// DP) and the logits against the single process (bounds above) and against float64 (the fixture's f32 bounds).
TEST_P(ParallelQwen3, GradientsLossAndLogitsMatchSingleProcess) {
  const double ref_loss = ref_forward_backward();
  const double ref_norm = global_grad_norm(ref_->parameters(), ref_->tp());
  AdamW opt(*model_, AdamWConfig{}, *grid_.dp, layout_.zero1);
  const double loss = forward_backward(*model_);
  const double norm = opt.reduce_gradients();
  const std::vector<std::vector<float>> grads = reduced_gradients(*model_);
  expect_single_process_results(loss, norm, grads, ref_loss, ref_norm, "at the checkpoint's weights");
  report("loss rel error vs single process", rel_error(loss, ref_loss),
         loss_bound(layout_, layers_, logit_scale(*ref_, batch_, ref_loss)));
  report("grad norm rel error vs single process", rel_error(norm, ref_norm), norm_bound(layout_, layers_));
  double worst = 0;
  for (size_t i = 0; i < grads.size(); ++i)
    worst = std::max(worst, rel_error(grads[i], ref_->parameters()[i].grad.to_f32_vector(), Norm::kL2));
  report("worst gradient tensor rel error vs single process", worst, gradient_bound(layout_, layers_));
  EXPECT_LE(rel_error(loss, fx_->ref_f64("loss")[0]),
            loss_bound_from_logits(fixture_logits_bound(layers_), fx_->logit_scale()));
  EXPECT_LE(rel_error(norm, fx_->ref_f64("adamw_grad_norms_before_clip")[0]), fixture_gradient_bound(layers_));
  for (size_t i = 0; i < grads.size(); ++i) {
    const std::string& name = ref_->parameters()[i].name;
    EXPECT_LE(rel_error(grads[i], fx_->ref_f64("grad." + name), Norm::kL2), fixture_gradient_bound(layers_)) << name;
  }
  const std::vector<float> logits =
      gather_vocab_parallel_logits(model_->tp(), model_->forward_logits(batch_), fx_->config.vocab_size);
  const std::vector<float> ref_logits = ref_->forward_logits(batch_).to_f32_vector();
  const double logit_err = rel_error(logits, ref_logits, Norm::kMax);
  report("logits max rel error vs single process", logit_err, logits_bound(layout_, layers_));
  EXPECT_LE(logit_err, logits_bound(layout_, layers_));
  EXPECT_LE(rel_error(logits, fx_->ref_f64("logits"), Norm::kMax), fixture_logits_bound(layers_));
}

// Claim 2: three steps in which every layout's optimizer gets the single process's gradients and norm. AdamW is
// elementwise and every layout runs the same kernel on the same (m, v, p, g) of each element, so parameters and
// moments equal the single process's bit for bit, however they are split (TP shards, DP replicas, ZeRO-1 slices
// with their all-gather); a ZeRO-1 layout also equals plain DP. The norm a layout computes of those gradients
// differs only by the f32 transport of its partial sums.
TEST_P(ParallelQwen3, SameGradientsGiveTheSameParametersBitForBit) {
  AdamW ref_opt(ref_->parameters(), AdamWConfig{});
  AdamW opt(*model_, AdamWConfig{}, *grid_.dp, layout_.zero1);
  std::unique_ptr<Qwen3Model> plain;  // ZeRO-1 layouts: plain DP on the same gradients
  std::unique_ptr<AdamW> plain_opt;
  if (layout_.zero1) {
    plain = parallel_model();
    plain_opt = std::make_unique<AdamW>(*plain, AdamWConfig{}, *grid_.dp, false);
  }
  for (int step = 0; step < 3; ++step) {
    ref_forward_backward();
    const double ref_norm = global_grad_norm(ref_->parameters(), ref_->tp());
    feed_reference_gradients(*model_);
    const double norm = opt.reduce_gradients();
    EXPECT_LE(rel_error(norm, ref_norm), norm_transport_bound(layout_)) << "step " << step;
    ref_opt.step(kLr, ref_norm);
    opt.step(kLr, ref_norm);
    if (plain) {
      feed_reference_gradients(*plain);
      plain_opt->reduce_gradients();
      plain_opt->step(kLr, ref_norm);
    }
    expect_same_state(opt, ref_opt, "after step " + std::to_string(step + 1));
    if (plain)
      for (size_t i = 0; i < model_->parameters().size(); ++i) {
        const Parameter &p = model_->parameters()[i], &q = plain->parameters()[i];
        EXPECT_TRUE(same_bits(gather_full(p, p.value, *grid_.tp), gather_full(q, q.value, *grid_.tp)))
            << p.name << " after step " << step + 1 << ": ZeRO-1 differs from plain DP on the same gradients";
      }
  }
  EXPECT_EQ(opt.steps_taken(), 3);
}

// Claim 3: three steps end to end, the layout training on its own gradients. The single-process model mirrors the
// layout's trajectory: before each step it computes its own loss, norm and gradients at the layout's weights (claim
// 1), then takes the layout's summed gradients and norm into its optimizer, so that after each step the layout's
// parameters and moments must equal the mirror's bit for bit (claim 2). After three steps: the loss at the final
// weights (claim 1) and, against the float64 run, each tensor's median weight difference (fixture.h).
TEST_P(ParallelQwen3, ThreeStepsEndToEndMatchWhereWellConditioned) {
  AdamW mirror_opt(ref_->parameters(), AdamWConfig{});
  AdamW opt(*model_, AdamWConfig{}, *grid_.dp, layout_.zero1);
  double worst = 0;  // of the errors relative to their bounds
  for (int step = 0; step < 3; ++step) {
    const std::string when = "at step " + std::to_string(step);
    const double mirror_loss = ref_forward_backward();
    const double mirror_norm = global_grad_norm(ref_->parameters(), ref_->tp());
    const double loss = forward_backward(*model_);
    const double norm = opt.reduce_gradients();
    const std::vector<std::vector<float>> grads = reduced_gradients(*model_);
    worst = std::max(worst, expect_single_process_results(loss, norm, grads, mirror_loss, mirror_norm, when));
    for (size_t i = 0; i < grads.size(); ++i)
      std::memcpy(ref_->parameters()[i].grad.data(), grads[i].data(), grads[i].size() * sizeof(float));
    mirror_opt.step(kLr, norm);
    opt.step(kLr, norm);
    expect_same_state(opt, mirror_opt, "after step " + std::to_string(step + 1));
  }
  EXPECT_EQ(opt.steps_taken(), 3);
  const double after = model_->forward_loss(batch_).mean(), mirror_after = ref_->forward_loss(batch_).mean();
  const double after_bound = loss_bound(layout_, layers_, logit_scale(*ref_, batch_, mirror_after));
  EXPECT_LE(rel_error(after, mirror_after), after_bound);
  report("3 steps: worst (loss, norm, gradient) error / bound vs the single process at the same weights",
         std::max(worst, rel_error(after, mirror_after) / after_bound), 1);
  double worst_median = 0;
  for (const Parameter& p : model_->parameters()) {
    const std::vector<float> w = gather_full(p, p.value, *grid_.tp);
    const std::vector<double> hf = fx_->ref_f64("after3." + p.name);
    double largest = 0;
    for (double x : hf) largest = std::max(largest, std::fabs(x));
    const double median = median_abs_error(w, hf), bound = fixture_median_weight_bound(layers_, 3, kLr, largest);
    worst_median = std::max(worst_median, median / bound);
    EXPECT_LE(median, bound) << p.name << ": the median element differs from the float64 run's";
  }
  report("3 steps: worst median weight difference / bound vs float64", worst_median, 1);
}

TEST_P(ParallelQwen3, GreedyGenerationMatchesSingleProcess) {
  GenerateRequest req;
  const std::vector<int64_t> prompt = fx_->ref.read_i64("greedy_prompt");
  req.prompt.assign(prompt.begin(), prompt.end());
  req.max_new_tokens = 16;
  EXPECT_EQ(generate(*model_, req), generate(*ref_, req));
}

// The serving engine on a TP group: rank 0 schedules and samples, its peers run each broadcast plan in lock-step,
// and every request's greedy tokens equal the same group's single-sequence generate() (the same split sums, so the
// same logits up to f64 rounding: see engine_test.cpp). A mix of 12 requests, arriving in 3 waves.
TEST_P(ParallelQwen3, ServingEngineMatchesSingleSequenceGenerate) {
  std::vector<GenerateRequest> reqs;
  for (int i = 0; i < 12; ++i) {
    GenerateRequest g;
    for (int t = 0; t < 3 + (i * 7) % 40; ++t) g.prompt.push_back((i * 131 + t * 17) % static_cast<int>(fx_->config.vocab_size));
    g.max_new_tokens = 1 + (i * 5) % 20;
    reqs.push_back(g);
  }
  std::vector<std::vector<int32_t>> expected;
  for (const GenerateRequest& g : reqs) expected.push_back(generate(*model_, g));

  EngineOptions eo;
  eo.block_size = 8;
  eo.max_tokens_per_step = 64;  // prompts are prefilled in chunks alongside the decoding sequences
  ServingEngine engine(*model_, nullptr, eo);
  if (grid_.tp->rank() != 0) return engine.run_peer();
  std::map<uint64_t, std::vector<int32_t>> got;
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < reqs.size(); ++i) {
    GenerationRequest r;
    r.prompt = reqs[i].prompt;
    r.max_tokens = reqs[i].max_new_tokens;
    r.ignore_eos = true;
    ids.push_back(engine.submit(r, [&](const GenerationChunk& c) {
      got[c.request_id].insert(got[c.request_id].end(), c.token_ids.begin(), c.token_ids.end());
    }));
    if (i % 4 == 3) engine.step();
  }
  engine.run_until_idle();
  engine.shutdown_peers();
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(got[ids[i]], expected[i]) << "request " << i;
  EXPECT_EQ(engine.stats().free_blocks, engine.stats().num_blocks);
}

// A rank's optimizer shard saved after two steps and loaded into a fresh optimizer continues exactly: the third
// step gives the same parameters bit for bit. A file from another DP layout is refused, naming both layouts.
TEST_P(ParallelQwen3, OptimizerShardResumesExactly) {
  AdamW opt(*model_, AdamWConfig{}, *grid_.dp, layout_.zero1);
  for (int step = 0; step < 2; ++step) {
    forward_backward(*model_);
    opt.step(kLr, opt.reduce_gradients());
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
    o.step(kLr, o.reduce_gradients());
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
