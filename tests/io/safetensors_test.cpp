// safetensors reading and writing on good files: the two fixture checkpoints (bf16 single file, f32 shards),
// exact dtype conversion against bytes decoded by hand, tensor-parallel slices, references, round trips and
// atomic replacement.
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>

#include "io_test_util.h"

namespace stepwise {
namespace {

using namespace io_test;

Tensor read_full(const SafetensorsCheckpoint& ckpt, const std::string& name) {
  Tensor t = Tensor::empty(ckpt.shape(name), DType::kF32);
  ckpt.read_f32(name, t);
  return t;
}

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// The file of a checkpoint tensor, for decoding it by hand.
std::string file_holding(const std::string& dir, const std::string& name) {
  const std::string index = dir + "/model.safetensors.index.json";
  if (!std::filesystem::exists(index)) return dir + "/model.safetensors";
  return dir + "/" + nlohmann::json::parse(read_bytes(index))["weight_map"][name].get<std::string>();
}

TEST(SafetensorsFixtures, TiedBf16SingleFileLoads) {
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(kTinyA);
  EXPECT_EQ(ckpt.source(), kTinyA + "/model.safetensors");
  EXPECT_EQ(ckpt.names().size(), 2u * 11 + 2);  // 11 tensors per layer, embedding, final norm
  EXPECT_TRUE(ckpt.has("model.embed_tokens.weight"));
  EXPECT_FALSE(ckpt.has("lm_head.weight"));  // tied: the model code reuses the embedding
  EXPECT_EQ(ckpt.shape("model.embed_tokens.weight"), (Shape{1000, 64}));
  EXPECT_EQ(ckpt.shape("model.layers.1.self_attn.q_proj.weight"), (Shape{128, 64}));  // 4 heads x head_dim 32
  EXPECT_EQ(ckpt.shape("model.layers.0.self_attn.k_norm.weight"), (Shape{32}));
  for (const std::string& name : ckpt.names()) {
    EXPECT_EQ(ckpt.dtype(name), StDType::kBF16) << name;
    read_full(ckpt, name);
  }
}

TEST(SafetensorsFixtures, ShardedF32LoadsFromDirectoryIndexOrShard) {
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(kTinyB);
  EXPECT_EQ(ckpt.source(), kTinyB + "/model.safetensors.index.json");
  EXPECT_EQ(ckpt.names().size(), 3u * 11 + 3);  // + untied lm_head
  EXPECT_TRUE(ckpt.has("lm_head.weight"));
  EXPECT_EQ(ckpt.shape("lm_head.weight"), (Shape{517, 48}));
  EXPECT_EQ(ckpt.shape("model.layers.2.self_attn.o_proj.weight"), (Shape{48, 96}));  // 6 heads x head_dim 16
  for (const std::string& name : ckpt.names()) {
    EXPECT_EQ(ckpt.dtype(name), StDType::kF32) << name;
    read_full(ckpt, name);
  }
  // The index file itself, and one shard on its own.
  EXPECT_EQ(SafetensorsCheckpoint::open(kTinyB + "/model.safetensors.index.json").names(), ckpt.names());
  const SafetensorsCheckpoint shard = SafetensorsCheckpoint::open(kTinyB + "/model-00005-of-00005.safetensors");
  EXPECT_EQ(shard.names(), std::vector<std::string>{"lm_head.weight"});
  const auto file = SafetensorsFile::open(kTinyB + "/model-00005-of-00005.safetensors");
  EXPECT_EQ(file->metadata().at("format"), "pt");
}

TEST(SafetensorsFixtures, Bf16ConvertsExactly) {
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(kTinyA);
  for (const std::string& name : ckpt.names()) {
    const RawTensor raw = raw_tensor(kTinyA + "/model.safetensors", name);
    ASSERT_EQ(raw.dtype, "BF16");
    const Tensor t = read_full(ckpt, name);
    const float* v = t.data_as<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
      ASSERT_EQ(bits_of(v[i]), static_cast<uint32_t>(raw_element<uint16_t>(raw, i)) << 16) << name << " [" << i << "]";
  }
  // Values decoded independently (Python struct) from the fixture.
  const Tensor embed = read_full(ckpt, "model.embed_tokens.weight");
  const std::vector<float> first = {-0.021728515625f, -0.01434326171875f, 0.0177001953125f, 0.08544921875f};
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(embed.data_as<float>()[i], first[i]);
  EXPECT_EQ(read_full(ckpt, "model.layers.1.self_attn.q_proj.weight").data_as<float>()[5 * 64 + 7], 0.1298828125f);
}

TEST(SafetensorsFixtures, F32ReadsBitExactAcrossShards) {
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(kTinyB);
  for (const std::string& name : ckpt.names()) {
    const RawTensor raw = raw_tensor(file_holding(kTinyB, name), name);
    const Tensor t = read_full(ckpt, name);
    ASSERT_EQ(raw.bytes.size(), t.nbytes());
    EXPECT_EQ(std::memcmp(raw.bytes.data(), t.data(), t.nbytes()), 0) << name;
  }
  EXPECT_FLOAT_EQ(read_full(ckpt, "model.layers.0.self_attn.q_proj.weight").data_as<float>()[1], -0.139683574f);
  EXPECT_FLOAT_EQ(read_full(ckpt, "lm_head.weight").data_as<float>()[516 * 48 + 47], -0.0764428005f);
}

// Every tensor-parallel rank's block, by rows (dim 0) and by columns (dim 1), equals that block of the full
// tensor, for every rank count that divides the dimension.
void expect_slices_match(const SafetensorsCheckpoint& ckpt, const std::string& name) {
  const Tensor full = read_full(ckpt, name);
  const int64_t rows = full.size(0), cols = full.size(1);
  for (int dim : {0, 1}) {
    const int64_t extent = full.size(dim);
    for (int64_t tp : {2, 3, 4, 11}) {
      if (extent % tp != 0) continue;
      const int64_t part = extent / tp;
      for (int64_t rank = 0; rank < tp; ++rank) {
        Tensor block = Tensor::empty(dim == 0 ? Shape{part, cols} : Shape{rows, part}, DType::kF32);
        ckpt.read_f32_slice(name, block, dim, rank * part);
        for (int64_t r = 0; r < block.size(0); ++r)
          for (int64_t c = 0; c < block.size(1); ++c) {
            const int64_t fr = dim == 0 ? rank * part + r : r, fc = dim == 1 ? rank * part + c : c;
            ASSERT_EQ(block.data_as<float>()[r * block.size(1) + c], full.data_as<float>()[fr * cols + fc])
                << name << " dim " << dim << " tp " << tp << " rank " << rank;
          }
      }
    }
  }
}

TEST(SafetensorsSlices, RowAndColumnBlocksMatchTheFullTensor) {
  expect_slices_match(SafetensorsCheckpoint::open(kTinyB), "model.layers.1.self_attn.q_proj.weight");  // f32
  expect_slices_match(SafetensorsCheckpoint::open(kTinyB), "lm_head.weight");  // 517 = 11 x 47 rows
  expect_slices_match(SafetensorsCheckpoint::open(kTinyA), "model.layers.0.mlp.down_proj.weight");  // bf16
}

TEST(SafetensorsSlices, MiddleDimensionOfA3dTensorAndA1dSlice) {
  ScratchDir dir;
  std::vector<float> values(2 * 6 * 3);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  write_safetensors(dir.file("t.safetensors"), {{"x", Tensor::from_vector(values, {2, 6, 3})}});
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(dir.file("t.safetensors"));
  Tensor block = Tensor::empty({2, 2, 3}, DType::kF32);
  ckpt.read_f32_slice("x", block, 1, 4);
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int c = 0; c < 3; ++c)
        EXPECT_EQ(block.data_as<float>()[(a * 2 + b) * 3 + c], values[(a * 6 + 4 + b) * 3 + c]);

  const SafetensorsCheckpoint fixture = SafetensorsCheckpoint::open(kTinyB);
  const Tensor norm = read_full(fixture, "model.norm.weight");
  Tensor part = Tensor::empty({8}, DType::kF32);
  fixture.read_f32_slice("model.norm.weight", part, 0, 40);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(part.data_as<float>()[i], norm.data_as<float>()[40 + i]);
}

TEST(SafetensorsReferences, ReadF64AndI64) {
  const SafetensorsCheckpoint ref = SafetensorsCheckpoint::open(kTinyA + "/reference.safetensors");
  EXPECT_EQ(ref.dtype("loss"), StDType::kF64);
  EXPECT_EQ(ref.dtype("input_ids"), StDType::kI64);
  // Values decoded independently (Python struct) from the fixture.
  EXPECT_EQ(ref.read_f64("adamw_step_losses"),
            (std::vector<double>{7.161384684578105, 5.74373491938791, 4.598321029516822}));
  EXPECT_EQ(ref.read_f64("loss"), std::vector<double>{7.161384684578105});
  EXPECT_EQ(ref.shape("logits"), (Shape{3, 33, 1000}));
  EXPECT_EQ(ref.read_f64("logits")[0], -0.38556425088140234);
  EXPECT_EQ(ref.read_i64("greedy_prompt"), (std::vector<int64_t>{363, 803, 222, 277, 393, 386, 219, 83}));

  // labels are input_ids with -100 over each row's prompt.
  const std::vector<int64_t> ids = ref.read_i64("input_ids"), labels = ref.read_i64("labels");
  const std::vector<int64_t> prompt = ref.read_i64("prompt_lens");
  ASSERT_EQ(prompt, (std::vector<int64_t>{5, 12, 20}));
  ASSERT_EQ(ids.size(), 3u * 33);
  for (int r = 0; r < 3; ++r)
    for (int t = 0; t < 33; ++t) EXPECT_EQ(labels[r * 33 + t], t < prompt[r] ? -100 : ids[r * 33 + t]) << r << "," << t;

  // A reference read as f32 tensor, and weights read as f64, agree with the other readers.
  Tensor losses = Tensor::empty({3}, DType::kF32);
  ref.read_f32("adamw_step_losses", losses);
  EXPECT_EQ(losses.data_as<float>()[1], static_cast<float>(5.74373491938791));
  const SafetensorsCheckpoint weights = SafetensorsCheckpoint::open(kTinyA);
  const Tensor q = read_full(weights, "model.layers.0.self_attn.q_proj.weight");
  const std::vector<double> q64 = weights.read_f64("model.layers.0.self_attn.q_proj.weight");
  for (int64_t i = 0; i < q.numel(); ++i) ASSERT_EQ(q64[i], static_cast<double>(q.data_as<float>()[i]));
}

TEST(SafetensorsWrite, RoundTripKeepsDtypesOrderMetadataAndBytes) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  const Tensor f32 = f32_tensor({1.5f, -2.25f, 3.0f, 1e-30f, 65504.0f, -0.0f}, {2, 3});
  const Tensor bf16 = f32_tensor({0.1f, 1e20f, -7.0f, 3.14159f}, {4}).to_dtype(DType::kBF16);
  const Tensor f16 = f32_tensor({0.1f, -65504.0f, 6e-8f}, {3, 1}).to_dtype(DType::kF16);
  const Tensor i32 = Tensor::from_vector(std::vector<int32_t>{-100, 0, 151645, 2147483647}, {2, 2});
  const Tensor scalar = f32_tensor({42.0f}, {});
  const Tensor empty = Tensor::empty({0, 5}, DType::kF32);
  // Deliberately not in alphabetical order: the writer keeps the caller's order.
  write_safetensors(path, {{"z.f32", f32}, {"a.bf16", bf16}, {"m.f16", f16}, {"ids", i32}, {"scalar", scalar},
                           {"empty", empty}},
                    {{"format", "pt"}, {"step", "7"}});

  // The bytes, checked by hand against the format.
  const std::string file = read_bytes(path);
  const uint64_t length = header_length(file);
  EXPECT_EQ(length % 8, 0u);
  const std::string header_text = file.substr(8, length);
  EXPECT_LT(header_text.find("\"z.f32\""), header_text.find("\"a.bf16\""));
  EXPECT_LT(header_text.find("\"a.bf16\""), header_text.find("\"m.f16\""));
  const nlohmann::json header = raw_header(file);
  EXPECT_EQ(header["__metadata__"], (nlohmann::json{{"format", "pt"}, {"step", "7"}}));
  EXPECT_EQ(header["a.bf16"]["dtype"], "BF16");
  EXPECT_EQ(header["ids"]["dtype"], "I32");
  EXPECT_EQ(header["scalar"]["shape"], nlohmann::json::array());
  EXPECT_EQ(file.size(), 8 + length + 24 + 8 + 6 + 16 + 4 + 0);
  EXPECT_EQ(raw_tensor(path, "a.bf16").bytes, std::string(static_cast<const char*>(bf16.data()), 8));
  EXPECT_EQ(raw_tensor(path, "m.f16").bytes, std::string(static_cast<const char*>(f16.data()), 6));

  // And read back.
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(path);
  EXPECT_EQ(read_full(ckpt, "z.f32").to_f32_vector(), f32.to_f32_vector());
  EXPECT_EQ(read_full(ckpt, "a.bf16").to_f32_vector(), bf16.to_f32_vector());
  EXPECT_EQ(read_full(ckpt, "m.f16").to_f32_vector(), f16.to_f32_vector());
  EXPECT_EQ(ckpt.read_i64("ids"), (std::vector<int64_t>{-100, 0, 151645, 2147483647}));
  EXPECT_EQ(ckpt.read_f64("scalar"), std::vector<double>{42.0});
  EXPECT_EQ(ckpt.shape("empty"), (Shape{0, 5}));
  EXPECT_TRUE(ckpt.read_f64("empty").empty());
  EXPECT_EQ(SafetensorsFile::open(path)->metadata().at("step"), "7");
}

TEST(SafetensorsWrite, RewritingAFixtureReproducesItsTensors) {
  ScratchDir dir;
  const SafetensorsCheckpoint original = SafetensorsCheckpoint::open(kTinyB);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& name : original.names()) tensors.emplace_back(name, read_full(original, name));
  write_safetensors(dir.file("model.safetensors"), tensors, {{"format", "pt"}});
  const SafetensorsCheckpoint copy = SafetensorsCheckpoint::open(dir.path());
  ASSERT_EQ(copy.names(), original.names());
  for (const auto& [name, t] : tensors) EXPECT_EQ(read_full(copy, name).to_f32_vector(), t.to_f32_vector()) << name;
}

TEST(SafetensorsWrite, ReplacesAnExistingFileWholeAndLeavesNoTemporary) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  std::vector<float> big(1000, 1.0f);
  write_safetensors(path, {{"w", Tensor::from_vector(big, {1000})}, {"extra", f32_tensor({2.0f}, {1})}});
  const SafetensorsCheckpoint before = SafetensorsCheckpoint::open(path);

  write_safetensors(path, {{"w", f32_tensor({5.0f, 6.0f}, {2})}});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
  const SafetensorsCheckpoint after = SafetensorsCheckpoint::open(path);  // validates: no bytes of the old file
  EXPECT_EQ(after.names(), std::vector<std::string>{"w"});
  EXPECT_EQ(after.read_f64("w"), (std::vector<double>{5.0, 6.0}));
  // A reader that opened the old file keeps seeing it whole: the new file is a new inode, not an overwrite.
  EXPECT_EQ(before.read_f64("w"), std::vector<double>(1000, 1.0));

  // A rejected write leaves the file as it was.
  EXPECT_STATUS_ERROR(write_safetensors(path, {{"a", f32_tensor({1.0f}, {1})},
                                               {"a", f32_tensor({2.0f}, {1})}}),
                      StatusCode::kInvalidArgument, {path, "'a'", "repeated"});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(SafetensorsCheckpoint::open(path).read_f64("w"), (std::vector<double>{5.0, 6.0}));
}

}  // namespace
}  // namespace stepwise
