// safetensors errors: each corruption or misuse, written into a small file by hand, must fail with the right
// code and a message naming the file and the tensor (or field). A control test shows the uncorrupted file is
// accepted, so each error test fails if the reader stops detecting its lie.
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "io_test_util.h"

namespace stepwise {
namespace {

using namespace io_test;

std::string entry(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
}
std::string header(const std::string& a, const std::string& b) {
  return R"({"__metadata__":{"format":"pt"},"a":)" + a + R"(,"b":)" + b + "}";
}
// a: F32 [2, 2] = 1, 2, 3, 4 (bytes 0..16); b: BF16 [3] = 1, 2, -3 (bytes 16..22).
const std::string kGoodA = entry("F32", "[2,2]", "[0,16]");
const std::string kGoodB = entry("BF16", "[3]", "[16,22]");
std::string good_data() {
  const float a[4] = {1, 2, 3, 4};
  const uint16_t b[3] = {0x3f80, 0x4000, 0xc040};
  return std::string(reinterpret_cast<const char*>(a), 16) + std::string(reinterpret_cast<const char*>(b), 6);
}

class SafetensorsErrors : public ::testing::Test {
 protected:
  void write(const std::string& header_text, const std::string& data, uint64_t declared_length = UINT64_MAX) {
    write_bytes(path, safetensors_bytes(header_text, data, declared_length));
  }
  // Opening the file alone and as a checkpoint directory both fail the same way, naming the file.
  void expect_open_error(StatusCode code, std::vector<std::string> parts) {
    parts.push_back(path);
    EXPECT_STATUS_ERROR(SafetensorsFile::open(path), code, parts);
    EXPECT_STATUS_ERROR(SafetensorsCheckpoint::open(dir.path()), code, parts);
  }

  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
};

TEST_F(SafetensorsErrors, ControlTheUncorruptedFileReads) {
  write(header(kGoodA, kGoodB), good_data());
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(dir.path());
  EXPECT_EQ(ckpt.read_f64("a"), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(ckpt.read_f64("b"), (std::vector<double>{1, 2, -3}));
}

TEST_F(SafetensorsErrors, TruncatedFile) {
  write(header(kGoodA, kGoodB), good_data().substr(0, 19));
  expect_open_error(StatusCode::kDataLoss,
                    {"'b'", "[16, 22]", "past the end of the 19-byte data section", "truncated"});
}

TEST_F(SafetensorsErrors, OffsetsOutOfBounds) {
  write(header(kGoodA, entry("BF16", "[500]", "[16,1016]")), good_data());
  expect_open_error(StatusCode::kDataLoss, {"'b'", "[16, 1016]", "past the end"});
}

TEST_F(SafetensorsErrors, OffsetsOverlap) {
  write(header(kGoodA, entry("BF16", "[3]", "[10,16]")), good_data().substr(0, 16));
  expect_open_error(StatusCode::kDataLoss, {"tensor 'b' (bytes [10, 16)) overlaps tensor 'a' (bytes [0, 16))"});
}

TEST_F(SafetensorsErrors, TensorInsideAnother) {
  write(header(entry("F32", "[1]", "[4,8]"), entry("F32", "[4]", "[0,16]")), good_data().substr(0, 16));
  expect_open_error(StatusCode::kDataLoss, {"'a'", "overlaps tensor 'b'"});
}

TEST_F(SafetensorsErrors, SizeDisagreesWithShapeTimesDtype) {
  write(header(entry("F32", "[2,2]", "[0,12]"), entry("BF16", "[3]", "[12,18]")), good_data().substr(0, 18));
  expect_open_error(StatusCode::kDataLoss, {"'a'", "span 12 bytes", "[2, 2] of F32 needs 16"});
}

TEST_F(SafetensorsErrors, GapBetweenTensors) {
  write(header(kGoodA, entry("BF16", "[3]", "[18,24]")), good_data() + "xx");
  expect_open_error(StatusCode::kDataLoss, {"'b'", "starts at byte 18", "contiguous"});
}

TEST_F(SafetensorsErrors, BytesAfterTheLastTensor) {
  write(header(kGoodA, kGoodB), good_data() + "junk");
  expect_open_error(StatusCode::kDataLoss, {"4 bytes after its last tensor 'b'"});
}

TEST_F(SafetensorsErrors, OffsetsRunBackwards) {
  write(header(entry("F32", "[2,2]", "[16,0]"), kGoodB), good_data());
  expect_open_error(StatusCode::kDataLoss, {"'a'", "backwards"});
}

TEST_F(SafetensorsErrors, UnknownDtype) {
  write(header(entry("F8_E4M3", "[2,2]", "[0,16]"), kGoodB), good_data());
  expect_open_error(StatusCode::kInvalidArgument, {"'a'", "F8_E4M3", "cannot read"});
}

TEST_F(SafetensorsErrors, HeaderIsNotJson) {
  write(R"({"a": {"dtype": "F32", "shape": [2,)", good_data());
  expect_open_error(StatusCode::kDataLoss, {"header is not valid JSON"});
}

// nlohmann::json reports a number beyond double's range as out_of_range, not parse_error (fuzz_safetensors_index).
TEST_F(SafetensorsErrors, HeaderNumberOutOfRange) {
  write(R"({"__metadata__": {"x": 1e999}})", good_data());
  expect_open_error(StatusCode::kDataLoss, {"header is not valid JSON", "number overflow"});
}

TEST_F(SafetensorsErrors, HeaderIsNotAnObject) {
  write("[1, 2, 3]", "");
  expect_open_error(StatusCode::kDataLoss, {"not an object"});
}

TEST_F(SafetensorsErrors, EntryWithoutOffsets) {
  write(R"({"a":{"dtype":"F32","shape":[2,2]}})", good_data().substr(0, 16));
  expect_open_error(StatusCode::kDataLoss, {"'a'", "no \"data_offsets\""});
}

TEST_F(SafetensorsErrors, NegativeDimension) {
  write(header(entry("F32", "[-2,2]", "[0,16]"), kGoodB), good_data());
  expect_open_error(StatusCode::kDataLoss, {"'a'", "[-2,2]", "non-negative"});
}

TEST_F(SafetensorsErrors, MetadataValueIsNotAString) {
  write(R"({"__metadata__":{"step":7},"a":)" + kGoodA + "}", good_data().substr(0, 16));
  expect_open_error(StatusCode::kDataLoss, {"__metadata__", "'step'"});
}

TEST_F(SafetensorsErrors, HeaderLengthLargerThanTheFile) {
  write(header(kGoodA, kGoodB), good_data(), uint64_t{1} << 40);
  expect_open_error(StatusCode::kDataLoss, {"header length 1099511627776", "exceeds"});
}

TEST_F(SafetensorsErrors, FileTooShortForAHeader) {
  write_bytes(path, std::string("\x05\0\0\0\0", 5));
  expect_open_error(StatusCode::kDataLoss, {"5 bytes", "too few"});
}

TEST_F(SafetensorsErrors, MissingFileOrDirectory) {
  EXPECT_STATUS_ERROR(SafetensorsFile::open(path), StatusCode::kNotFound, {path});
  EXPECT_STATUS_ERROR(SafetensorsCheckpoint::open(path), StatusCode::kNotFound, {path});
  EXPECT_STATUS_ERROR(SafetensorsCheckpoint::open(dir.path()), StatusCode::kNotFound,
                      {dir.path(), "neither model.safetensors nor model.safetensors.index.json"});
}

TEST_F(SafetensorsErrors, MissingTensor) {
  write(header(kGoodA, kGoodB), good_data());
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(path);
  EXPECT_FALSE(ckpt.has("lm_head.weight"));
  Tensor dst = Tensor::empty({2, 2}, DType::kF32);
  EXPECT_STATUS_ERROR(ckpt.read_f32("lm_head.weight", dst), StatusCode::kNotFound, {path, "'lm_head.weight'"});
  EXPECT_STATUS_ERROR(ckpt.shape("lm_head.weight"), StatusCode::kNotFound, {path, "'lm_head.weight'"});
  EXPECT_STATUS_ERROR(SafetensorsFile::open(path)->info("x"), StatusCode::kNotFound, {path, "'x'"});
}

TEST_F(SafetensorsErrors, WrongDestination) {
  write(header(kGoodA, kGoodB), good_data());
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(path);
  Tensor flat = Tensor::empty({4}, DType::kF32);
  EXPECT_STATUS_ERROR(ckpt.read_f32("a", flat), StatusCode::kInvalidArgument, {path, "'a'", "[2, 2]", "[4]"});
  Tensor bf16 = Tensor::empty({2, 2}, DType::kBF16);
  EXPECT_STATUS_ERROR(ckpt.read_f32("a", bf16), StatusCode::kInvalidArgument, {path, "'a'", "CPU f32", "bf16[2, 2]"});
}

TEST_F(SafetensorsErrors, SliceOutsideTheTensor) {
  write(header(kGoodA, kGoodB), good_data());
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(path);
  Tensor row = Tensor::empty({1, 2}, DType::kF32);
  ckpt.read_f32_slice("a", row, 0, 1);  // the last row is fine
  EXPECT_EQ(row.to_f32_vector(), (std::vector<float>{3, 4}));
  EXPECT_STATUS_ERROR(ckpt.read_f32_slice("a", row, 0, 2), StatusCode::kInvalidArgument,
                      {path, "'a'", "[2, 2]", "[1, 2]", "index 2 of dimension 0"});
  EXPECT_STATUS_ERROR(ckpt.read_f32_slice("a", row, 0, -1), StatusCode::kInvalidArgument, {path, "'a'"});
  Tensor wide = Tensor::empty({1, 3}, DType::kF32);
  EXPECT_STATUS_ERROR(ckpt.read_f32_slice("a", wide, 0, 0), StatusCode::kInvalidArgument, {path, "'a'", "[1, 3]"});
  EXPECT_STATUS_ERROR(ckpt.read_f32_slice("a", row, 2, 0), StatusCode::kInvalidArgument, {path, "dimension 2"});
}

TEST_F(SafetensorsErrors, ReaderDoesNotTakeTheDtype) {
  write(header(kGoodA, kGoodB), good_data());
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(path);
  EXPECT_STATUS_ERROR(ckpt.read_i64("a"), StatusCode::kInvalidArgument, {path, "'a'", "F32", "read_i64"});
  const std::string ref_path = kTinyA + "/reference.safetensors";
  const SafetensorsCheckpoint ref = SafetensorsCheckpoint::open(ref_path);
  EXPECT_STATUS_ERROR(ref.read_f64("input_ids"), StatusCode::kInvalidArgument, {ref_path, "'input_ids'", "I64"});
  Tensor ids = Tensor::empty({3, 33}, DType::kF32);
  EXPECT_STATUS_ERROR(ref.read_f32("input_ids", ids), StatusCode::kInvalidArgument, {ref_path, "'input_ids'", "I64"});
}

// A sharded checkpoint: part-1 holds a and b; the index is rewritten per case.
class ShardedErrors : public SafetensorsErrors {
 protected:
  void SetUp() override {
    write_bytes(dir.file("part-1.safetensors"), safetensors_bytes(header(kGoodA, kGoodB), good_data()));
  }
  void write_index(const std::string& text) { write_bytes(index, text); }
  const std::string index = dir.file("model.safetensors.index.json");
};

TEST_F(ShardedErrors, ControlTheIndexResolves) {
  write_index(R"({"metadata":{},"weight_map":{"a":"part-1.safetensors","b":"part-1.safetensors"}})");
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(dir.path());
  EXPECT_EQ(ckpt.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ckpt.read_f64("b"), (std::vector<double>{1, 2, -3}));
}

TEST_F(ShardedErrors, IndexNamesAMissingShard) {
  write_index(R"({"weight_map":{"a":"part-1.safetensors","c":"part-2.safetensors"}})");
  EXPECT_STATUS_ERROR(SafetensorsCheckpoint::open(dir.path()), StatusCode::kNotFound,
                      {index, "part-2.safetensors", "'c'", "missing"});
}

TEST_F(ShardedErrors, IndexPutsATensorInTheWrongShard) {
  write_index(R"({"weight_map":{"a":"part-1.safetensors","zz":"part-1.safetensors"}})");
  EXPECT_STATUS_ERROR(SafetensorsCheckpoint::open(dir.path()), StatusCode::kDataLoss,
                      {index, "'zz'", "part-1.safetensors", "does not hold it"});
}

TEST_F(ShardedErrors, IndexIsNotJsonOrHasNoWeightMap) {
  write_index(R"({"weight_map": {"a": )");
  EXPECT_STATUS_ERROR(SafetensorsCheckpoint::open(dir.path()), StatusCode::kDataLoss, {index, "not valid JSON"});
  write_index(R"([444.4e4444444444])");  // found by fuzz_safetensors_index: out_of_range escaped read_json_file
  EXPECT_STATUS_ERROR(SafetensorsCheckpoint::open(dir.path()), StatusCode::kDataLoss,
                      {index, "not valid JSON", "number overflow"});
  write_index(R"({"metadata": {}})");
  EXPECT_STATUS_ERROR(SafetensorsCheckpoint::open(dir.path()), StatusCode::kDataLoss, {index, "weight_map"});
}

TEST_F(ShardedErrors, CorruptShardIsNamed) {
  write_bytes(dir.file("part-2.safetensors"), safetensors_bytes(R"({"c":)" + kGoodA + "}", good_data().substr(0, 9)));
  write_index(R"({"weight_map":{"a":"part-1.safetensors","c":"part-2.safetensors"}})");
  EXPECT_STATUS_ERROR(SafetensorsCheckpoint::open(dir.path()), StatusCode::kDataLoss,
                      {dir.file("part-2.safetensors"), "'c'", "truncated"});
}

}  // namespace
}  // namespace stepwise
