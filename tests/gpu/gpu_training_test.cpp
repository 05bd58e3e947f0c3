// `stepwise train` on the GPU goes through the same loop as on the CPU (run.device: cuda): a tiny SFT run with
// the same data, seed and schedule on both devices must follow the same loss curve within bf16 tolerance, learn
// (the curve falls), and leave a checkpoint that resumes on the GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "gpu_test_util.h"
#include "train/loop.h"
#include "train_test_util.h"

namespace stepwise::train_test {
namespace {

TEST(GpuTraining, TinySftRunFollowsTheCpuLossCurve) {
  SKIP_WITHOUT_GPU();
  const std::string dir = fresh_test_dir("GpuTraining");
  write_random_dataset(dir + "/data", 60, 16, 60, 64, 3);
  // head_dim 64: the GPU runs its tensor-core attention kernels, as a real model does.
  Qwen3Config model_config = tiny_config(64, 128, 2);
  model_config.head_dim = 64;
  const std::string model = write_model_config(dir + "/model", model_config);
  constexpr int64_t kSteps = 30;

  RunOptions quiet;
  quiet.log = nullptr;
  TrainConfig cpu = tiny_train_config(dir + "/cpu", model, dir + "/data", kSteps);
  TrainConfig gpu = tiny_train_config(dir + "/gpu", model, dir + "/data", kSteps);
  gpu.run.device = Device::kCUDA;
  const TrainResult on_cpu = run_sft(cpu, quiet);
  const TrainResult on_gpu = run_sft(gpu, quiet);
  ASSERT_EQ(on_cpu.steps.size(), static_cast<size_t>(kSteps));
  ASSERT_EQ(on_gpu.steps.size(), static_cast<size_t>(kSteps));

  // bf16 weights and activations: each step's loss within 2% of the CPU's, or 0.02 absolute once the loss is
  // below 1 (the rounding compounds over steps, and a small loss is a difference of large logits).
  double worst = 0;
  for (int64_t s = 0; s < kSteps; ++s) {
    const double c = on_cpu.steps[s].loss, g = on_gpu.steps[s].loss;
    ASSERT_TRUE(std::isfinite(g)) << "step " << s + 1;
    EXPECT_FALSE(on_gpu.steps[s].skipped) << "step " << s + 1;
    worst = std::max(worst, std::abs(g - c) / std::max(c, 1.0));
  }
  std::printf("GPU vs CPU loss, worst step: %.3e (relative, absolute below 1); first %.4f / %.4f, last %.4f / %.4f\n", worst,
              on_gpu.steps.front().loss, on_cpu.steps.front().loss, on_gpu.steps.back().loss,
              on_cpu.steps.back().loss);
  EXPECT_LE(worst, 2e-2);
  EXPECT_LT(on_gpu.steps.back().loss, 0.7 * on_gpu.steps.front().loss) << "the GPU run did not learn";

  // The GPU checkpoint resumes on the GPU: stop halfway, resume, and the second half follows the straight run.
  TrainConfig split = tiny_train_config(dir + "/split", model, dir + "/data", kSteps);
  split.run.device = Device::kCUDA;
  RunOptions first = quiet;
  first.stop_after_steps = kSteps / 2;
  run_sft(split, first);
  RunOptions resume = quiet;
  resume.resume = true;
  const TrainResult second = run_sft(split, resume);
  ASSERT_EQ(second.steps.size(), static_cast<size_t>(kSteps / 2));
  for (size_t i = 0; i < second.steps.size(); ++i)
    EXPECT_EQ(second.steps[i].loss, on_gpu.steps[kSteps / 2 + i].loss) << "resumed step " << kSteps / 2 + i + 1;
}

}  // namespace
}  // namespace stepwise::train_test
