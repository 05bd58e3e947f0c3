// Checkpoints: (a) N steps, stop, resume for N more gives the losses and weights of 2N straight steps bit for
// bit; (b) a process killed with SIGKILL in the middle of writing a checkpoint leaves the previous one intact, and
// resuming from it (a real child process: the stepwise binary) reproduces the straight run; (c) a damaged file
// is caught by its checksum with an error naming it. Also: pruning to keep_last, and refusing to reuse a run
// directory without --resume.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "core/status.h"
#include "io/checkpoint_dir.h"
#include "train/loop.h"
#include "train/metrics.h"
#include "train_test_util.h"

namespace stepwise::train_test {
namespace {

namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fresh_test_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    write_random_dataset(dir_ + "/data", 40, 8, 30, 64, 1);  // about 13 rows of 64: an epoch every 3 steps
    model_ = write_model_config(dir_ + "/model", tiny_config());
  }
  TrainConfig config(const std::string& run, int64_t steps) const {
    TrainConfig c = tiny_train_config(dir_ + "/" + run, model_, dir_ + "/data", steps);
    c.data.eval = dir_ + "/data";
    c.eval.every = 3;
    c.eval.max_batches = 1;
    return c;
  }
  static RunOptions quiet(bool resume = false, int64_t stop_after = 0) {
    RunOptions o;
    o.resume = resume;
    o.stop_after_steps = stop_after;
    o.log = nullptr;
    return o;
  }
  std::string dir_, model_;
};

TEST_F(CheckpointTest, StopAndResumeIsBitExact) {
  const TrainResult straight = run_sft(config("straight", 8), quiet());
  ASSERT_EQ(straight.steps.size(), 8u);

  const TrainResult first = run_sft(config("split", 8), quiet(false, 4));
  ASSERT_EQ(first.steps.size(), 4u);
  EXPECT_EQ(first.final_step, 4);
  const TrainResult second = run_sft(config("split", 8), quiet(/*resume=*/true));
  ASSERT_EQ(second.steps.size(), 4u);
  EXPECT_EQ(second.first_step, 4);
  for (int s = 0; s < 8; ++s) {
    const StepRecord& r = s < 4 ? first.steps[s] : second.steps[s - 4];
    EXPECT_EQ(r.step, straight.steps[s].step);
    EXPECT_EQ(r.loss, straight.steps[s].loss) << "step " << s + 1;  // bit for bit
    EXPECT_EQ(r.grad_norm, straight.steps[s].grad_norm) << "step " << s + 1;
    EXPECT_EQ(r.tokens, straight.steps[s].tokens) << "step " << s + 1;
  }
  // The final weights and optimizer state, bit for bit: the same file checksums.
  const CheckpointManifest a = read_checkpoint_manifest(straight.last_checkpoint);
  const CheckpointManifest b = read_checkpoint_manifest(second.last_checkpoint);
  EXPECT_EQ(a.step, 8);
  EXPECT_EQ(a.tokens_seen, b.tokens_seen);
  for (const char* name : {"model-tp00.safetensors", "optimizer-tp00-dp00.safetensors"})
    EXPECT_EQ(find_checkpoint_file(a, straight.last_checkpoint, name).hash,
              find_checkpoint_file(b, second.last_checkpoint, name).hash)
        << name;
  EXPECT_EQ(a.trainer, b.trainer);
}

TEST_F(CheckpointTest, KeepsTheLastKAndRefusesAReusedRunDirectory) {
  run_sft(config("keep", 8), quiet());
  std::vector<std::string> names;
  for (const std::string& c : list_checkpoints(dir_ + "/keep/checkpoints")) names.push_back(fs::path(c).filename());
  EXPECT_EQ(names, (std::vector<std::string>{"step-00000006", "step-00000008"}));
  try {
    run_sft(config("keep", 8), quiet());
    FAIL() << "an existing run was overwritten";
  } catch (const StatusError& e) {
    EXPECT_NE(std::string(e.what()).find("pass --resume"), std::string::npos) << e.what();
  }
  // Resuming a finished run does nothing more.
  EXPECT_TRUE(run_sft(config("keep", 8), quiet(true)).steps.empty());
}

TEST_F(CheckpointTest, SigkillDuringACheckpointLeavesThePreviousOneResumable) {
  const TrainResult straight = run_sft(config("straight", 8), quiet());
  TrainConfig cfg = config("killed", 8);
  cfg.train.log_every = 1;
  write_text(dir_ + "/killed.yaml", cfg.to_yaml());

  const ProcessResult killed =
      run_stepwise("train --config " + dir_ + "/killed.yaml", "STEPWISE_TEST_KILL_DURING_CHECKPOINT=4");
  ASSERT_EQ(killed.signal, SIGKILL) << "exit " << killed.exit_code << "\n" << killed.output();
  const std::string root = dir_ + "/killed/checkpoints";
  EXPECT_TRUE(fs::exists(root + "/step-00000004.tmp/model-tp00.safetensors"));  // killed half-way
  EXPECT_FALSE(fs::exists(root + "/step-00000004.tmp/manifest.json"));
  ASSERT_EQ(list_checkpoints(root), std::vector<std::string>{root + "/step-00000002"});

  const ProcessResult resumed = run_stepwise("train --config " + dir_ + "/killed.yaml --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output();
  EXPECT_NE(resumed.output().find("resumed from " + root + "/step-00000002: step 2"), std::string::npos)
      << resumed.output();
  EXPECT_FALSE(fs::exists(root + "/step-00000004.tmp"));  // cleaned up by the next checkpoint

  // metrics.jsonl holds steps 1-2 from the killed run and 3-8 from the resumed one: the straight run's losses.
  const std::vector<std::pair<double, double>> losses = read_loss_curves(dir_ + "/killed/metrics.jsonl").train;
  ASSERT_EQ(losses.size(), 8u);
  for (size_t s = 0; s < 8; ++s) {
    EXPECT_EQ(losses[s].first, static_cast<double>(s + 1));
    EXPECT_EQ(losses[s].second, straight.steps[s].loss) << "step " << s + 1;  // bit for bit
  }
  EXPECT_EQ(read_checkpoint_manifest(root + "/step-00000008").files[0].hash,
            read_checkpoint_manifest(straight.last_checkpoint).files[0].hash);
}

// Flips one byte in the middle of a file.
void flip_byte(const std::string& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(0, std::ios::end);
  const std::streamoff mid = f.tellg() / 2;
  f.seekg(mid);
  char c;
  f.read(&c, 1);
  c ^= 1;
  f.seekp(mid);
  f.write(&c, 1);
}

TEST_F(CheckpointTest, DamagedFilesAreCaughtByTheirChecksums) {
  run_sft(config("damaged", 4), quiet());
  const std::string last = dir_ + "/damaged/checkpoints/step-00000004";
  for (const char* name : {"optimizer-tp00-dp00.safetensors", "model-tp00.safetensors"}) {
    const std::string path = last + "/" + name;
    const std::string original = read_text(path);
    flip_byte(path);
    try {
      run_sft(config("damaged", 6), quiet(true));
      ADD_FAILURE() << "a damaged " << name << " was accepted";
    } catch (const StatusError& e) {
      EXPECT_EQ(e.code(), StatusCode::kDataLoss);
      EXPECT_NE(std::string(e.what()).find(path + ": checksum mismatch"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("resume from an older one"), std::string::npos) << e.what();
    }
    write_text(path, original.substr(0, original.size() - 8));  // truncated
    try {
      run_sft(config("damaged", 6), quiet(true));
      ADD_FAILURE() << "a truncated " << name << " was accepted";
    } catch (const StatusError& e) {
      EXPECT_NE(std::string(e.what()).find(path + " has "), std::string::npos) << e.what();
    }
    write_text(path, original);
  }
  EXPECT_EQ(run_sft(config("damaged", 6), quiet(true)).final_step, 6);  // repaired: resumes
}

}  // namespace
}  // namespace stepwise::train_test
