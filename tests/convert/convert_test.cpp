// `stepwise convert` as users run it (alone and under mpirun -np 2 / 4): Hugging Face -> native TP -> Hugging Face
// gives back the original tensors bit for bit and the same scores; a training checkpoint re-laid to another TP x DP
// layout (ZeRO-1 slices and AdamW moments included) resumes like the run that stayed; corrupted, truncated and
// path-escaping inputs are refused naming the file; a killed conversion leaves nothing that looks complete; peak
// memory stays within the stated bound on a model of GBs.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "../train/train_test_util.h"
#include "convert/synthetic_model.h"
#include "io/checkpoint_dir.h"
#include "io/hash.h"
#include "io/safetensors.h"
#include "model/hf_export.h"
#include "model/qwen3.h"
#include "train/metrics.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STEPWISE_TEST_ASAN 1
#endif
#endif

namespace stepwise::train_test {
namespace {

namespace fs = std::filesystem;

const std::string kMpirun2 = std::string(STEPWISE_MPIRUN) + " -np 2 -x OMP_NUM_THREADS=1";
const std::string kMpirun4 = std::string(STEPWISE_MPIRUN) + " -np 4 -x OMP_NUM_THREADS=1";

std::string fixture(const std::string& name) { return std::string(STEPWISE_TEST_DATA_DIR) + "/fixtures/" + name; }

ProcessResult convert(const std::string& args, const std::string& launcher = "") {
  const std::string flags = "convert --no-progress " + args;
  return launcher.empty() ? run_stepwise(flags) : run_stepwise_under(launcher, flags);
}

// Every tensor of `a` in `b` with the same dtype, shape and bytes (and no others).
void expect_same_tensors(const std::string& a, const std::string& b) {
  const SafetensorsCheckpoint x = SafetensorsCheckpoint::open(a), y = SafetensorsCheckpoint::open(b);
  ASSERT_EQ(x.names(), y.names()) << a << " vs " << b;
  for (const std::string& name : x.names()) {
    const StTensorInfo &p = x.file_of(name).info(name), &q = y.file_of(name).info(name);
    ASSERT_EQ(p.dtype, q.dtype) << name;
    ASSERT_EQ(p.shape, q.shape) << name;
    EXPECT_EQ(std::memcmp(x.file_of(name).bytes(p), y.file_of(name).bytes(q), p.end - p.begin), 0)
        << name << " differs between " << a << " and " << b;
  }
}

std::string score(const std::string& model, const std::string& tokens) {
  const ProcessResult r = run_stepwise("score --model " + model + " --tokens " + tokens);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  return r.out;
}

// HF -> native TP (mpirun -np 2) -> HF (mpirun -np 2, and one rank): the original tensors, the original scores.
void round_trip(const std::string& name, const std::string& hf, int tp, const std::string& native_dtype) {
  const std::string dir = fresh_test_dir("round_trip_" + name);
  const ProcessResult to_native = convert("--input " + hf + " --output " + dir + "/native --format native --tp " +
                                              std::to_string(tp) + native_dtype, kMpirun2);
  ASSERT_EQ(to_native.exit_code, 0) << to_native.describe();
  EXPECT_EQ(read_checkpoint_manifest(dir + "/native").tp, tp);
  for (const auto& [out, launcher] : {std::pair<std::string, std::string>{"/hf2", kMpirun2}, {"/hf1", ""}}) {
    const ProcessResult back = convert("--input " + dir + "/native --output " + dir + out + " --format hf", launcher);
    ASSERT_EQ(back.exit_code, 0) << back.describe();
    expect_same_tensors(hf, dir + out);
    const ProcessResult verify = run_stepwise("convert --verify " + dir + out);
    EXPECT_EQ(verify.exit_code, 0) << verify.describe();
  }
  EXPECT_TRUE(fs::exists(dir + "/hf2/model.safetensors.index.json")) << "two ranks write two shards at least";
  write_text(dir + "/ids.jsonl", "[1, 5, 9, 200, 33, 7, 61, 2]\n[17, 3, 250, 90]\n");
  const std::string original = score(hf, dir + "/ids.jsonl");
  EXPECT_EQ(score(dir + "/hf2", dir + "/ids.jsonl"), original);
  EXPECT_EQ(score(dir + "/hf1", dir + "/ids.jsonl"), original);
  // An independent reader of Hugging Face folders (tests/train/torch_score.py: weight_map, shards, float64 forward)
  // scores the sharded output exactly as the original.
  const std::string torch_score = "/usr/bin/python3 " + std::string(STEPWISE_ROOT_DIR) + "/tests/train/torch_score.py ";
  const ProcessResult a = test::run_process(torch_score + hf + " " + dir + "/ids.jsonl"),
                      b = test::run_process(torch_score + dir + "/hf2 " + dir + "/ids.jsonl");
  ASSERT_EQ(a.exit_code, 0) << a.describe();
  ASSERT_EQ(b.exit_code, 0) << b.describe();
  EXPECT_EQ(b.out, a.out);
}

TEST(Convert, RoundTripFixtureA) { round_trip("a", fixture("qwen3-tiny-a"), 2, " --dtype bfloat16"); }  // bf16, tied
// f32, untied, 5 shards; 3 KV heads and an intermediate size of 128 allow TP 1 only.
TEST(Convert, RoundTripFixtureB) { round_trip("b", fixture("qwen3-tiny-b"), 1, ""); }

TEST(Convert, RoundTripTinyPreset) {
  const std::string dir = fresh_test_dir("preset_hf");
  ModelOptions o;
  Qwen3Model model(parse_qwen3_config(nlohmann::json::parse(read_text(std::string(STEPWISE_ROOT_DIR) +
                                                                      "/configs/models/qwen3-tiny.json")),
                                      "qwen3-tiny.json"),
                   o);
  init_parameters(model.parameters(), 5, 0.02f);
  export_model_to_hf(model, dir + "/hf");
  round_trip("preset", dir + "/hf", 2, "");
}

// (step, loss) of a run's metrics.jsonl.
std::vector<std::pair<double, double>> losses(const std::string& run_dir) {
  return read_loss_curves(run_dir + "/metrics.jsonl").train;
}

// A straight run on layout `from` (4 ranks, 4 steps, checkpoints every 2); its step-2 checkpoint converted to layout
// `to` and resumed there for steps 3 and 4. Same rows per step (micro-batch x accumulation x dp), so the losses
// must follow the straight run.
void resume_on_new_layout(const std::string& name, const std::string& model, int32_t vocab, int tp_a, int dp_a,
                          int tp_b, int dp_b) {
  const std::string dir = fresh_test_dir("resume_" + name);
  write_random_dataset(dir + "/data", 60, 8, 30, vocab, 4);
  TrainConfig c = tiny_train_config(dir + "/straight", "hf:" + model, dir + "/data", 4);
  c.model.init = {ModelInit::Kind::kHuggingFace, model};
  c.run.tp = tp_a;
  c.run.dp = dp_a;
  c.run.zero1 = true;
  c.batch.grad_accum_steps = 4 / dp_a;
  c.train.log_every = 1;
  c.checkpoint.every = 2;
  write_text(dir + "/straight.yaml", c.to_yaml());
  const ProcessResult straight = run_stepwise_under(kMpirun4, "train --config " + dir + "/straight.yaml");
  ASSERT_EQ(straight.exit_code, 0) << straight.describe();

  const ProcessResult conv = convert("--input " + dir + "/straight/checkpoints/step-00000002 --output " + dir +
                                         "/moved/checkpoints/step-00000002 --format native --tp " +
                                         std::to_string(tp_b) + " --dp " + std::to_string(dp_b),
                                     kMpirun2);
  ASSERT_EQ(conv.exit_code, 0) << conv.describe();
  const CheckpointManifest m = read_checkpoint_manifest(dir + "/moved/checkpoints/step-00000002");
  EXPECT_EQ(m.tp, tp_b);
  EXPECT_EQ(m.dp, dp_b);
  EXPECT_TRUE(m.zero1);
  EXPECT_EQ(m.files.size(), static_cast<size_t>(tp_b + tp_b * dp_b));

  c.run.output_dir = dir + "/moved";
  c.run.tp = tp_b;
  c.run.dp = dp_b;
  c.batch.grad_accum_steps = 4 / dp_b;
  write_text(dir + "/moved.yaml", c.to_yaml());
  const ProcessResult resumed = run_stepwise_under(kMpirun4, "train --resume --config " + dir + "/moved.yaml");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
  EXPECT_NE(resumed.output().find("resumed from"), std::string::npos) << resumed.output();
  const auto a = losses(dir + "/straight"), b = losses(dir + "/moved");
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 2u) << "the resumed run logs steps 3 and 4";
  for (size_t s = 0; s < 2; ++s) {
    EXPECT_EQ(b[s].first, a[s + 2].first);
    // The tolerance of the DP and TP equivalence tests (tests/train/parallel_test.cpp): the same rows and weights;
    // only the order of f32 sums differs (TP's partial sums, DP's all-reduce), each rounding a relative 6e-8,
    // over the few reductions of a step: far below 1e-5 relative even after AdamW amplifies them over 2 steps.
    EXPECT_NEAR(b[s].second, a[s + 2].second, 1e-5 * a[s + 2].second) << name << " step " << b[s].first;
  }
}

TEST(Convert, ResumeTp2Dp2OnTp1Dp4) { resume_on_new_layout("tp2dp2", fixture("qwen3-tiny-a"), 1000, 2, 2, 1, 4); }

TEST(Convert, ResumeTp4OnTp2Dp2) {
  const std::string dir = fresh_test_dir("tp4_model");  // the tiny preset: 8 heads and 4 KV heads split 4 ways
  fs::create_directories(dir);
  fs::copy_file(std::string(STEPWISE_ROOT_DIR) + "/configs/models/qwen3-tiny.json", dir + "/config.json");
  ModelOptions o;
  Qwen3Model model(load_qwen3_config(dir + "/config.json"), o);
  init_parameters(model.parameters(), 11, 0.02f);
  export_model_to_hf(model, dir);
  resume_on_new_layout("tp4", dir, 512, 4, 1, 2, 2);
}

TEST(Convert, BadInputsAreRefusedNamingTheFile) {
  const std::string dir = fresh_test_dir("bad");
  ASSERT_EQ(convert("--input " + fixture("qwen3-tiny-b") + " --output " + dir + "/ckpt --format native")
                .exit_code,
            0);
  // A flipped byte in a native shard: the checksum names it.
  fs::copy(dir + "/ckpt", dir + "/flipped");
  {
    std::fstream f(dir + "/flipped/model-tp00.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-100, std::ios::end);
    f.put('\x5a');
  }
  ProcessResult r = convert("--input " + dir + "/flipped --output " + dir + "/out --format hf");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("model-tp00.safetensors: checksum mismatch (xxh3"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/out"));
  // --verify finds the same.
  r = run_stepwise("convert --verify " + dir + "/flipped");
  EXPECT_NE(r.err.find("model-tp00.safetensors: checksum mismatch"), std::string::npos) << r.err;

  // A truncated Hugging Face shard: its header no longer fits the file.
  fs::copy(fixture("qwen3-tiny-b"), dir + "/truncated");
  fs::resize_file(dir + "/truncated/model-00003-of-00005.safetensors", 5000);
  r = convert("--input " + dir + "/truncated --output " + dir + "/out --format native");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("model-00003-of-00005.safetensors"), std::string::npos) << r.err;

  // An index whose weight_map reaches outside the folder.
  fs::copy(fixture("qwen3-tiny-b"), dir + "/escape");
  std::string index = read_text(dir + "/escape/model.safetensors.index.json");
  const size_t at = index.find("\"model-00002-of-00005.safetensors\"");
  ASSERT_NE(at, std::string::npos);
  index.replace(at, 34, "\"../../../../etc/passwd\"");
  write_text(dir + "/escape/model.safetensors.index.json", index);
  r = convert("--input " + dir + "/escape --output " + dir + "/out --format native");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("model.safetensors.index.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("../../../../etc/passwd"), std::string::npos) << r.err;

  // Heads that do not split, and an existing output.
  r = convert("--input " + dir + "/ckpt --output " + dir + "/out --format native --tp 2");
  EXPECT_NE(r.err.find("num_key_value_heads"), std::string::npos) << r.err;
  r = convert("--input " + dir + "/ckpt --output " + dir + "/ckpt --format native");
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/out"));
}

TEST(Convert, KilledConversionLeavesNothingCompleteAndReRunSucceeds) {
  const std::string dir = fresh_test_dir("killed");
  const std::string args = "--input " + fixture("qwen3-tiny-a") + " --output " + dir + "/out --format native --tp 2";
  // Every rank SIGKILLs itself after its first file (mpirun -x passes the variable on).
  const ProcessResult killed =
      run_stepwise_under(kMpirun2 + " -x STEPWISE_TEST_KILL_DURING_CONVERT=1", "convert --no-progress " + args);
  EXPECT_NE(killed.exit_code, 0);
  EXPECT_FALSE(fs::exists(dir + "/out")) << "a killed conversion must not leave its output under the final name";
  EXPECT_TRUE(fs::exists(dir + "/out.partial"));
  EXPECT_FALSE(fs::exists(dir + "/out.partial/manifest.json"));
  const ProcessResult rerun = run_stepwise_under(kMpirun2, "convert --no-progress " + args);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.describe();
  EXPECT_FALSE(fs::exists(dir + "/out.partial"));
  EXPECT_EQ(run_stepwise("convert --verify " + dir + "/out").exit_code, 0);
}

// Checkpoints written before XXH3 (manifest version 1, FNV-1a 64) are still verified and converted.
TEST(Convert, VersionOneManifestsAreStillRead) {
  const std::string dir = fresh_test_dir("v1");
  ASSERT_EQ(convert("--input " + fixture("qwen3-tiny-a") + " --output " + dir + "/ckpt --format native").exit_code, 0);
  nlohmann::json m = nlohmann::json::parse(read_text(dir + "/ckpt/manifest.json"));
  m["version"] = 1;
  for (auto& f : m["files"]) {
    f.erase("xxh3");
    f.erase("rank");
    f.erase("host");
    f["fnv1a64"] = hash_hex(fnv1a64_file(dir + "/ckpt/" + f["name"].get<std::string>()));
  }
  write_text(dir + "/ckpt/manifest.json", m.dump(2));
  ProcessResult r = run_stepwise("convert --verify " + dir + "/ckpt");
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  r = convert("--input " + dir + "/ckpt --output " + dir + "/hf --format hf --dtype bfloat16");
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  expect_same_tensors(fixture("qwen3-tiny-a"), dir + "/hf");
  {
    std::fstream f(dir + "/ckpt/model-tp00.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-8, std::ios::end);
    f.put('\x11');
  }
  r = run_stepwise("convert --verify " + dir + "/ckpt");
  EXPECT_NE(r.err.find("model-tp00.safetensors: checksum mismatch (fnv1a64"), std::string::npos) << r.err;
}

TEST(Convert, MismatchedConfigAndFullDiskAreRefused) {
  const std::string dir = fresh_test_dir("mismatch");
  fs::copy(fixture("qwen3-tiny-a"), dir + "/hf");
  nlohmann::json config = nlohmann::json::parse(read_text(dir + "/hf/config.json"));
  config["intermediate_size"] = 192;
  write_text(dir + "/hf/config.json", config.dump());
  ProcessResult r = convert("--input " + dir + "/hf --output " + dir + "/out --format native");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("mlp.gate_proj.weight"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("config.json does not match the weights"), std::string::npos) << r.err;

  // A 1 MiB file system for an output of about 2 MB (weights and AdamW moments of the f32 fixture).
  fs::create_directories(dir + "/small");
  if (test::run_process("mount -t tmpfs -o size=1m tmpfs " + dir + "/small").exit_code != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs here (not root?): the full-disk case is not checked";
  r = convert("--input " + fixture("qwen3-tiny-b") + " --output " + dir + "/small/out --format native");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bytes free"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("free space or choose another --output"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/small/out"));
  EXPECT_EQ(test::run_process("umount " + dir + "/small").exit_code, 0);
}

// Peak memory on a model far larger than the buffer: VmHWM of the converting process, minus its RSS before it
// began, within the bound convert/shard_writer.h states (2 x buffer + 16 MiB).
TEST(Convert, PeakMemoryStaysWithinTheBuffer) {
#if defined(__SANITIZE_ADDRESS__) || defined(STEPWISE_TEST_ASAN)
  GTEST_SKIP() << "AddressSanitizer's shadow memory and quarantine are not the converter's: measured in the plain build";
#endif
  const std::string dir = fresh_test_dir("memory");
  const int64_t bytes = write_synthetic_hf_model(dir + "/hf", synthetic_qwen3_config(int64_t{2'000'000'000}),
                                                 400'000'000);
  ASSERT_GT(bytes, int64_t{1'900'000'000});
  constexpr int64_t kBuffer = 16 << 20;
  // f32 in, bf16 out: each buffer of output reads twice its bytes of input (1 GB written: the disk stays small).
  const ProcessResult r = convert("--input " + dir + "/hf --output " + dir + "/out --format hf --dtype bfloat16"
                                  " --buffer-size 16MiB");
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  std::smatch m;
  const std::string out = r.out;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("at most ([0-9]+) MiB \\(([0-9]+) MiB before converting")))
      << out;
  const int64_t peak = std::stoll(m[1]) << 20, before = std::stoll(m[2]) << 20;
  std::printf("peak RSS %lld MiB, %lld MiB before converting %.2f GB (buffer 16 MiB)\n",
              static_cast<long long>(peak >> 20), static_cast<long long>(before >> 20), bytes / 1e9);
  EXPECT_LE(peak - before, 2 * kBuffer + (16 << 20)) << out;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace stepwise::train_test
