// Multi-rank training through the launcher a user runs (mpirun -np 2 stepwise train). Data parallel: two DP ranks
// with one micro-batch each train like one rank accumulating two micro-batches (the loss normalised over both ranks'
// tokens), and a ZeRO-1 run stopped and resumed gives the losses of the uninterrupted one bit for bit, from
// per-rank optimizer shards. Tensor parallel: a TP=2 checkpoint (one model shard per TP rank) exports, and
// initialises a single-process run, as exactly the model it was trained from.
// On a GPU host tests/gpu/run_gpu_checks.sh runs them again with the ranks on the GPU over NCCL, through two
// variables that nothing else sets (unset, as under ctest, everything runs on the CPU as always):
//   STEPWISE_PARALLEL_DEVICE=cuda     every run of this file trains with run.device: cuda;
//   STEPWISE_PARALLEL_COMMAND="..."   replaces `mpirun -np 2 stepwise` (there: the packed Open MPI, a per-rank
//                                     wrapper that lets two ranks share one GPU, and the packed binary);
// and STEPWISE_FIXTURES_DIR, as for the fixture tests, locates the fixtures beside the packed binaries.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/status.h"
#include "io/checkpoint_dir.h"
#include "model/hf_export.h"
#include "model/hf_model.h"
#include "train/loop.h"
#include "train/metrics.h"
#include "train_test_util.h"

namespace stepwise::train_test {
namespace {

// (step, loss) of every step a run logged to its metrics.jsonl.
std::vector<std::pair<double, double>> logged_losses(const std::string& run_dir) {
  return read_loss_curves(run_dir + "/metrics.jsonl").train;
}

Device parallel_device() {
  const char* device = std::getenv("STEPWISE_PARALLEL_DEVICE");
  return device != nullptr && std::string(device) == "cuda" ? Device::kCUDA : Device::kCPU;
}

// `stepwise ARGS` on two ranks.
ProcessResult run_two_ranks(const std::string& args) {
  if (const char* command = std::getenv("STEPWISE_PARALLEL_COMMAND"))
    return test::run_process(std::string(command) + " " + args);
  return run_stepwise_under(std::string(STEPWISE_MPIRUN) + " -np 2 -x OMP_NUM_THREADS=1", args);
}

ProcessResult mpirun_train(const std::string& config, const std::string& flags = "") {
  return run_two_ranks("train --config " + config + " " + flags);
}

std::string fixtures_dir() {
  const char* dir = std::getenv("STEPWISE_FIXTURES_DIR");
  return dir != nullptr ? dir : std::string(STEPWISE_TEST_DATA_DIR) + "/fixtures";
}

class DataParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fresh_test_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    write_random_dataset(dir_ + "/data", 60, 8, 30, 64, 4);
    model_ = write_model_config(dir_ + "/model", tiny_config());
  }
  TrainConfig config(const std::string& run, int dp, int64_t accum) const {
    TrainConfig c = tiny_train_config(dir_ + "/" + run, model_, dir_ + "/data", 6);
    c.run.dp = dp;
    c.batch.grad_accum_steps = accum;
    c.train.log_every = 1;
    c.checkpoint.every = 0;
    c.run.device = parallel_device();
    return c;
  }
  std::string write_config(const TrainConfig& c, const std::string& name) const {
    write_text(dir_ + "/" + name + ".yaml", c.to_yaml());
    return dir_ + "/" + name + ".yaml";
  }
  std::string dir_, model_;
};

TEST_F(DataParallel, TwoRanksTrainLikeOneRankAccumulatingTwo) {
  RunOptions quiet;
  quiet.log = nullptr;
  const TrainResult one = run_sft(config("one", 1, 2), quiet);
  const ProcessResult two = mpirun_train(write_config(config("two", 2, 1), "two"));
  ASSERT_EQ(two.exit_code, 0) << two.output();
  const std::vector<std::pair<double, double>> losses = logged_losses(dir_ + "/two");
  ASSERT_EQ(losses.size(), one.steps.size());
  // Same rows, same normalisation; only the order of float sums differs (the DP all-reduce of gradients and of
  // the loss, which travels as f32). On the GPU the one-rank run adds the second micro-batch's weight gradients
  // inside the GEMM (one rounding) where DP=2 adds two rounded ones: an ulp of f32 apart, which AdamW carries into
  // the master weights and, where that crosses a rounding boundary, into the bf16 copy (2^-9 relative) in later
  // steps: 1e-4 leaves room for that while a lost or doubled rank's gradient still moves the loss far more.
  const double tolerance = parallel_device() == Device::kCUDA ? 1e-4 : 1e-5;
  for (size_t s = 0; s < losses.size(); ++s) {
    EXPECT_EQ(losses[s].first, static_cast<double>(s + 1));
    EXPECT_NEAR(losses[s].second, one.steps[s].loss, tolerance * one.steps[s].loss) << "step " << s + 1;
  }
}

TEST_F(DataParallel, Zero1StopAndResumeIsBitExactWithPerRankShards) {
  TrainConfig c = config("straight", 2, 1);
  c.run.zero1 = true;
  ASSERT_EQ(mpirun_train(write_config(c, "straight")).exit_code, 0);
  c.run.output_dir = dir_ + "/split";
  const std::string split = write_config(c, "split");
  const ProcessResult first = mpirun_train(split, "--stop-after 3");
  ASSERT_EQ(first.exit_code, 0) << first.output();
  const ProcessResult second = mpirun_train(split, "--resume");
  ASSERT_EQ(second.exit_code, 0) << second.output();
  EXPECT_NE(second.output().find("resumed from"), std::string::npos) << second.output();
  EXPECT_EQ(logged_losses(dir_ + "/split"), logged_losses(dir_ + "/straight"));  // bit for bit
  const CheckpointManifest m = read_checkpoint_manifest(dir_ + "/split/checkpoints/step-00000006");
  EXPECT_EQ(m.dp, 2);
  EXPECT_TRUE(m.zero1);
  std::vector<std::string> names;
  for (const CheckpointFile& f : m.files) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"model-tp00.safetensors", "optimizer-tp00-dp00.safetensors",
                                             "optimizer-tp00-dp01.safetensors"}));
  // A resume on another layout is refused with both layouts named.
  c.run.dp = 1;
  RunOptions resume;
  resume.resume = true;
  resume.log = nullptr;
  try {
    run_sft(c, resume);
    FAIL() << "resumed a dp=2 checkpoint with dp=1";
  } catch (const StatusError& e) {
    EXPECT_NE(std::string(e.what()).find("written with tp 1, dp 2, zero1 true; this run has tp 1, dp 1"),
              std::string::npos) << e.what();
  }
}

TEST(TensorParallel, Tp2CheckpointIsTheWholeModel) {
  const std::string dir = fresh_test_dir("tp2");
  const std::string fixture = fixtures_dir() + "/qwen3-tiny-a";  // 4 heads, 2 KV
  write_random_dataset(dir + "/data", 30, 8, 30, 1000, 5);
  TrainConfig c = tiny_train_config(dir + "/run", "hf:" + fixture, dir + "/data", 2);
  c.model.init = {ModelInit::Kind::kHuggingFace, fixture};
  c.run.tp = 2;
  c.run.device = parallel_device();
  c.optimizer.schedule.lr = 0;  // the weights stay the fixture's: the shards must reassemble it exactly
  c.optimizer.schedule.min_lr = 0;
  c.optimizer.adamw.weight_decay = 0;
  write_text(dir + "/tp2.yaml", c.to_yaml());
  const ProcessResult r = mpirun_train(dir + "/tp2.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.output();
  const CheckpointManifest m = read_checkpoint_manifest(dir + "/run/checkpoints/step-00000002");
  EXPECT_EQ(m.tp, 2);
  EXPECT_EQ(m.files.size(), 4u);  // a model and an optimizer shard per TP rank

  TokenBatch probe;
  std::vector<int32_t> doc;
  for (int32_t t = 0; t < 25; ++t) doc.push_back((37 * t + 11) % 1000);
  probe.add_document(doc);
  const std::vector<float> reference = load_hf_model(fixture, ModelOptions{})->forward_logits(probe).to_f32_vector();
  export_checkpoint_to_hf(dir + "/run", dir + "/hf");
  EXPECT_EQ(load_hf_model(dir + "/hf", ModelOptions{})->forward_logits(probe).to_f32_vector(), reference);

  TrainConfig single = c;  // the TP=2 checkpoint as the initial weights of a single-process run
  single.run.output_dir = dir + "/single";
  single.run.tp = 1;
  single.run.device = Device::kCPU;  // the reference is the CPU model's: whichever device trained, the same model
  single.model.init = {ModelInit::Kind::kCheckpoint, dir + "/run"};
  RunOptions quiet;
  quiet.log = nullptr;
  EXPECT_EQ(run_sft(single, quiet).model->forward_logits(probe).to_f32_vector(), reference);
}

}  // namespace
}  // namespace stepwise::train_test
