// Helpers for the io tests: a scratch directory, whole-file bytes, safetensors files built by hand and read by
// hand (so that reader tests do not trust the writer and writer tests do not trust the reader), and an assertion
// on a StatusError's code and message.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "core/tensor.h"

namespace stepwise::io_test {

inline const std::string kTestData = STEPWISE_TEST_DATA_DIR;
inline const std::string kTinyA = kTestData + "/fixtures/qwen3-tiny-a";  // bf16, one file, tied
inline const std::string kTinyB = kTestData + "/fixtures/qwen3-tiny-b";  // f32, 5 shards + index, untied

// A fresh directory, removed with its contents when the test ends.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = ::testing::TempDir() + "stepwise-io-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::vector<std::string> entries() const {  // file names in the directory, sorted
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::string path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

// A safetensors file exactly as given, lies included: the header's length (8 bytes, little-endian), the header
// text, the data section. `declared_length` overrides the length field.
inline std::string safetensors_bytes(const std::string& header, const std::string& data,
                                     uint64_t declared_length = UINT64_MAX) {
  const uint64_t length = declared_length == UINT64_MAX ? header.size() : declared_length;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return out + header + data;
}

// One tensor decoded by hand from a file's bytes: the oracle for the reader and the check on the writer.
struct RawTensor {
  std::string dtype;
  Shape shape;
  std::string bytes;
};
inline uint64_t header_length(const std::string& file_bytes) {
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= static_cast<uint64_t>(static_cast<uint8_t>(file_bytes[i])) << (8 * i);
  return length;
}
inline nlohmann::json raw_header(const std::string& file_bytes) {
  return nlohmann::json::parse(file_bytes.substr(8, header_length(file_bytes)));
}
inline RawTensor raw_tensor(const std::string& path, const std::string& name) {
  const std::string file = read_bytes(path);
  const nlohmann::json entry = raw_header(file).at(name);
  const size_t begin = entry["data_offsets"][0], end = entry["data_offsets"][1];
  return {entry["dtype"], entry["shape"].get<Shape>(), file.substr(8 + header_length(file) + begin, end - begin)};
}
template <class T>
T raw_element(const RawTensor& t, size_t i) {
  T v;
  std::memcpy(&v, t.bytes.data() + i * sizeof(T), sizeof(T));
  return v;
}

// A CPU f32 tensor holding `values` (a braced list would be ambiguous between Tensor::from_vector overloads).
inline Tensor f32_tensor(const std::vector<float>& values, Shape shape) {
  return Tensor::from_vector(values, std::move(shape));
}

// Runs `fn` and expects a StatusError of `code` whose message contains every one of `parts`.
template <class Fn>
void expect_status_error(Fn&& fn, StatusCode code, const std::vector<std::string>& parts) {
  try {
    fn();
  } catch (const StatusError& e) {
    const std::string message = e.what();
    EXPECT_STREQ(status_code_name(e.code()), status_code_name(code)) << message;
    for (const std::string& part : parts)
      EXPECT_NE(message.find(part), std::string::npos) << "the message lacks \"" << part << "\": " << message;
    return;
  }
  ADD_FAILURE() << "no StatusError; expected " << status_code_name(code);
}
#define EXPECT_STATUS_ERROR(statement, code, ...)                                     \
  do {                                                                                \
    SCOPED_TRACE(#statement);                                                         \
    ::stepwise::io_test::expect_status_error([&] { statement; }, code, __VA_ARGS__); \
  } while (0)

}  // namespace stepwise::io_test
