// `stepwise bench cpu-train`, a tiny run through the binary: its figures for stepwise and for the PyTorch baseline
// (bench/torch_qwen3.py, python3-torch), and the JSON line that ends it agreeing with them.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>

#include "common/process.h"
#include "io/hf_config.h"
#include "kernels/cpu/blas_family.h"

namespace stepwise::testing {
namespace {

// The number after `label` on the line that starts with it ("  stepwise (CPU fp32)  337 tokens/s").
double figure_after(const std::string& out, const std::string& label) {
  std::smatch m;
  const std::regex re("\n\\s*" + std::regex_replace(label, std::regex(R"([()])"), R"(\$&)") + R"(\s+([0-9.]+))");
  EXPECT_TRUE(std::regex_search(out, m, re)) << "no '" << label << "' line in:\n" << out;
  return m.empty() ? 0 : std::stod(m[1]);
}

// The loss printed in "(..., loss 6.2606)" on the line that starts with `label`.
double loss_on(const std::string& out, const std::string& label) {
  const size_t line = out.find(label);
  const size_t at = out.find("loss ", line);
  return line == std::string::npos || at == std::string::npos ? 0 : std::stod(out.substr(at + 5));
}

nlohmann::json last_json_line(const std::string& out) {
  const size_t begin = out.rfind("\n{");
  EXPECT_NE(begin, std::string::npos) << "no JSON line at the end of:\n" << out;
  return begin == std::string::npos ? nlohmann::json() : nlohmann::json::parse(out.substr(begin + 1));
}

const std::string kTinyRun = " bench cpu-train --preset qwen3-tiny --batch 1 --seq 32 --steps 2 --warmup 0 --threads 1";

TEST(BenchCpuTrain, PrintsItsFiguresThePyTorchBaselineAndAJsonLine) {
  const test::ProcessResult r = test::run_process(test::stepwise_binary() + kTinyRun, {"", 120});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("bench cpu-train: qwen3-tiny"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("batch 1 x 32 tokens, 1 threads"), std::string::npos) << r.out;
  const nlohmann::json result = last_json_line(r.out);
  EXPECT_EQ(result["bench"], "cpu-train");
  EXPECT_EQ(result["preset"], "qwen3-tiny");
  EXPECT_EQ(result["batch"], 1);
  EXPECT_EQ(result["seq"], 32);
  EXPECT_EQ(result["threads"], 1);
  const double ours = result["stepwise_tokens_per_s"], fast = result["stepwise_f32_tokens_per_s"],
               torch = result["torch_tokens_per_s"];
  EXPECT_GT(ours, 0);
  EXPECT_GT(fast, 0);
  EXPECT_GT(torch, 0);
  EXPECT_NEAR(result["ratio"].get<double>(), ours / torch, 1e-9 * ours / torch);
  EXPECT_NEAR(result["ratio_f32"].get<double>(), fast / torch, 1e-9 * fast / torch);
  // The printed lines show the same figures (rounded to whole tokens/s, the ratio to 2 decimals).
  EXPECT_NEAR(figure_after(r.out, "stepwise, f64 accumulation (the reference)"), ours, 0.5);
  EXPECT_NEAR(figure_after(r.out, "stepwise, f32 accumulation"), fast, 0.5);
  EXPECT_NEAR(figure_after(r.out, "ratio stepwise f64 / PyTorch"), ours / torch, 0.005);
  EXPECT_NEAR(figure_after(r.out, "ratio stepwise f32 / PyTorch"), fast / torch, 0.005);
  EXPECT_NE(r.out.find("PyTorch "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("OpenBLAS kernels: " + result["blas_kernels"].get<std::string>() + " ("), std::string::npos)
      << r.out;
  // Both ran the same model on random tokens from a small random initialisation: the cross-entropy of nearly
  // uniform predictions, ln(vocab), for both.
  const double uniform = std::log(static_cast<double>(qwen3_preset("qwen3-tiny").vocab_size));
  EXPECT_NEAR(loss_on(r.out, "stepwise, f64 accumulation"), uniform, 0.1) << r.out;
  EXPECT_NEAR(loss_on(r.out, "stepwise, f32 accumulation"), uniform, 0.1) << r.out;
  EXPECT_NEAR(loss_on(r.out, "PyTorch"), uniform, 0.1) << r.out;
}

// The OpenBLAS kernel family: a user's OPENBLAS_CORETYPE stands; when the library picks a family below the CPU (as
// OpenBLAS 0.3.21 does on Sapphire Rapids: Prescott), the binary re-executes itself with the best validated family
// for this CPU, and the benchmark names it. STEPWISE_TEST_BLAS_FAMILY_IN_USE stands for the library's poor choice.
TEST(BenchCpuTrain, NamesTheOpenBlasKernelsItRanAndSwitchesWhenTheLibraryFallsBelowTheCpu) {
  const std::string run = test::stepwise_binary() + kTinyRun + " --no-torch --accumulation float32";
  const test::ProcessResult forced = test::run_process("env OPENBLAS_CORETYPE=Prescott " + run, {"", 60});
  ASSERT_EQ(forced.exit_code, 0) << forced.describe();
  EXPECT_NE(forced.out.find("OpenBLAS kernels: Prescott (set by OPENBLAS_CORETYPE)"), std::string::npos)
      << forced.out;
  EXPECT_EQ(last_json_line(forced.out)["blas_kernels"], "Prescott");

  const kernels::cpu::BlasFamily* best = kernels::cpu::best_blas_family(kernels::cpu::detect_cpu_features());
  ASSERT_NE(best, nullptr);
  if (best->tier == 0) GTEST_SKIP() << "this CPU runs no family above Prescott: nothing to switch to";
  const test::ProcessResult switched =
      test::run_process("env -u OPENBLAS_CORETYPE STEPWISE_TEST_BLAS_FAMILY_IN_USE=Prescott " + run, {"", 60});
  ASSERT_EQ(switched.exit_code, 0) << switched.describe();
  EXPECT_NE(switched.out.find("OpenBLAS kernels: " + std::string(best->name) +
                              " (chosen by stepwise: OpenBLAS picked Prescott, below what this"),
            std::string::npos)
      << switched.out;
  EXPECT_EQ(last_json_line(switched.out)["blas_kernels"], best->name);
}

TEST(BenchCpuTrain, NoTorchLeavesTheBaselineOut) {
  const test::ProcessResult r = test::run_process(test::stepwise_binary() + kTinyRun + " --no-torch", {"", 60});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const nlohmann::json result = last_json_line(r.out);
  EXPECT_GT(result["stepwise_tokens_per_s"].get<double>(), 0);
  EXPECT_FALSE(result.contains("torch_tokens_per_s")) << result.dump();
  EXPECT_EQ(r.out.find("PyTorch"), std::string::npos) << r.out;
}

// A baseline that ends without its JSON result line (here /bin/echo, which prints its arguments and succeeds) is an
// error naming the command, not a crash.
TEST(BenchCpuTrain, BaselineWithoutAResultLineIsNamed) {
  const test::ProcessResult r =
      test::run_process(test::stepwise_binary() + kTinyRun + " --accumulation float32 --python /bin/echo", {"", 60});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_NE(r.err.find("no JSON result line at the end of the output of: /bin/echo "), std::string::npos)
      << r.describe();
}

}  // namespace
}  // namespace stepwise::testing
