// The pipeline end to end through the stepwise binary, as a user runs it, on the GSM8K subset and the distilled
// traces of tests/data/reasoning with the real Qwen3 tokenizer: data prepare -> train (configs/sft/tiny-gsm8k.yaml,
// eval, checkpoints) -> export -> score the exported model, its log-probabilities checked against an independent
// float64 PyTorch forward of the exported files (torch_score.py); and the one-line errors of bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/token_shards.h"
#include "train_test_util.h"

namespace stepwise::train_test {
namespace {

namespace fs = std::filesystem;

// `stepwise score`'s lines against torch_score.py's. f32 against f64 on a model this small: |logprob| ~ 12 at f32's
// 6e-8 relative rounding, accumulated over 2 layers, stays near 1e-6; 2e-5 leaves room for any BLAS and thread count.
// The argmax must agree where the reference's top two differ by more than that.
constexpr double kLogprobTolerance = 2e-5;

void expect_same_scores(const std::string& ours, const std::string& reference, int64_t vocab) {
  std::istringstream a(ours), b(reference);
  std::string line_a, line_b;
  int64_t lines = 0;
  double worst = 0, farthest_from_uniform = 0;
  while (std::getline(b, line_b)) {
    ASSERT_TRUE(std::getline(a, line_a)) << "stepwise score printed fewer lines:\n" << ours;
    const auto x = nlohmann::json::parse(line_a), y = nlohmann::json::parse(line_b);
    ASSERT_EQ(x["logprobs"].size(), y["logprobs"].size()) << "line " << lines + 1;
    for (size_t t = 0; t < y["logprobs"].size(); ++t) {
      const double ref = y["logprobs"][t];
      worst = std::max(worst, std::fabs(x["logprobs"][t].get<double>() - ref));
      farthest_from_uniform = std::max(farthest_from_uniform, std::fabs(ref + std::log(static_cast<double>(vocab))));
      if (y["margins"][t].get<double>() > kLogprobTolerance) {
        EXPECT_EQ(x["argmax"][t], y["argmax"][t]) << "line " << lines + 1 << " position " << t;
      }
    }
    ++lines;
  }
  EXPECT_EQ(lines, 2);
  EXPECT_FALSE(std::getline(a, line_a)) << "stepwise score printed more lines:\n" << ours;
  std::printf("score vs PyTorch float64: worst logprob difference %.3g (the trained model is %.3g from uniform)\n",
              worst, farthest_from_uniform);
  EXPECT_LE(worst, kLogprobTolerance);
  // The comparison means something only if training moved the model well away from a uniform prediction.
  EXPECT_GT(farthest_from_uniform, 100 * kLogprobTolerance);
}

TEST(CliEndToEnd, PrepareTrainExportScore) {
  const std::string dir = fresh_test_dir("e2e"), tok = qwen3_tokenizer_dir();
  ASSERT_TRUE(fs::exists(tok + "/tokenizer.json")) << "run scripts/setup.sh (npm tokenizer)";
  // GSM8K and the distilled traces (a JSONL file and a .json array) into one training set.
  const ProcessResult prep = run_stepwise("data prepare --no-progress --tokenizer " + tok + " --input " +
                                          reasoning_data("gsm8k_train_200.jsonl") + "," +
                                          reasoning_data("distill_samples_deepseek_r1.json") + " --output " + dir +
                                          "/train --max-len 1024");
  ASSERT_EQ(prep.exit_code, 0) << prep.output();
  EXPECT_NE(prep.output().find("(distill: "), std::string::npos) << prep.output();
  EXPECT_NE(prep.output().find("(gsm8k: 200)"), std::string::npos) << prep.output();
  EXPECT_NE(prep.output().find("too_long"), std::string::npos) << prep.output();  // the longest traces
  EXPECT_NE(prep.output().find("distill_samples_deepseek_r1.json:"), std::string::npos) << prep.output();
  EXPECT_NE(prep.output().find("tokens per example: p50"), std::string::npos) << prep.output();
  const ProcessResult test = run_stepwise("data prepare --no-progress --tokenizer " + tok + " --input " +
                                          reasoning_data("gsm8k_test_50.jsonl") + " --output " + dir +
                                          "/test --max-len 1024");
  ASSERT_EQ(test.exit_code, 0) << test.output();
  EXPECT_EQ(read_token_dataset_index(dir + "/test").documents, 50);

  const std::string root = STEPWISE_ROOT_DIR;
  const std::string sets = " --set run.output_dir=" + dir + "/run --set data.train=" + dir + "/train" +
                           " --set data.eval=" + dir + "/test --set model.config=hf:" + root +
                           "/configs/sft/models/qwen3-micro";
  const ProcessResult train = run_stepwise("train --config " + root + "/configs/sft/tiny-gsm8k.yaml" + sets);
  ASSERT_EQ(train.exit_code, 0) << train.output();
  EXPECT_NE(train.output().find("step 4/4"), std::string::npos) << train.output();
  EXPECT_NE(train.output().find("eval at step 4"), std::string::npos) << train.output();
  for (const char* f : {"config.yaml", "metrics.jsonl", "loss_curve.svg", "checkpoints/step-00000004/manifest.json"})
    EXPECT_TRUE(fs::exists(dir + "/run/" + f)) << f;
  EXPECT_EQ(read_text(dir + "/run/loss_curve.svg").rfind("<svg", 0), 0u);

  const ProcessResult exp =
      run_stepwise("export --checkpoint " + dir + "/run --output " + dir + "/hf --tokenizer " + tok);
  ASSERT_EQ(exp.exit_code, 0) << exp.output();
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    EXPECT_TRUE(fs::exists(dir + "/hf/" + f)) << f;
  // "<|im_start|>user\n2+2?" and "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n".
  write_text(dir + "/ids.jsonl",
             "[151644, 872, 198, 17, 10, 17, 30]\n"
             "[151644, 872, 198, 3838, 374, 220, 17, 10, 17, 30, 151645, 198, 151644, 77091, 198]\n");
  const ProcessResult score = run_stepwise("score --model " + dir + "/hf --tokens " + dir + "/ids.jsonl");
  ASSERT_EQ(score.exit_code, 0) << score.describe();
  const ProcessResult torch = test::run_process("/usr/bin/python3 " + root + "/tests/train/torch_score.py " + dir +
                                                "/hf " + dir + "/ids.jsonl");
  ASSERT_EQ(torch.exit_code, 0) << "the PyTorch reference (python3-torch, scripts/setup.sh)\n" << torch.describe();
  expect_same_scores(score.out, torch.out, load_qwen3_config(dir + "/hf/config.json").vocab_size);
}

TEST(CliEndToEnd, BadInputIsOneLineAndNonZero) {
  const std::string dir = fresh_test_dir("e2e_errors");
  write_text(dir + "/bad.yaml", "run:\n  output_dir: x\nmodel:\n  config: qwen3-tiny\n  colour: red\n");
  ProcessResult r = run_stepwise("train --config " + dir + "/bad.yaml");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output().find(dir + "/bad.yaml:5: unknown key model.colour"), std::string::npos) << r.output();

  write_text(dir + "/in.jsonl", "{\"prompt\": \"p\", \"completion\": \"c\"}\n{\"prompt\": \"p\"}\n");
  r = run_stepwise("data prepare --strict --tokenizer " + qwen3_tokenizer_dir() + " --input " + dir +
                   "/in.jsonl --output " + dir + "/out");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output().find("in.jsonl:2: missing_field"), std::string::npos) << r.output();
  EXPECT_FALSE(fs::exists(dir + "/out"));

  r = run_stepwise("export --checkpoint " + dir + " --output " + dir + "/hf");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output().find("no checkpoint at"), std::string::npos) << r.output();
}

}  // namespace
}  // namespace stepwise::train_test
