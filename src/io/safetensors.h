// safetensors checkpoints (Hugging Face format): memory-mapped reading of one file or of a sharded set
// (`model.safetensors.index.json`), and crash-safe writing. Reads convert F32/BF16/F16 to f32 on load and
// can read a slice of a tensor (a tensor-parallel rank's rows or columns) touching only those bytes.
// Every error names the file and the tensor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace stepwise {

// Element types a safetensors header can name (more than Tensor has: references are F64/I64).
enum class StDType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };
const char* st_dtype_name(StDType dtype);
size_t st_dtype_size(StDType dtype);
// The tensor dtype a stored float dtype is read as unchanged (F32, BF16, F16); nullopt for the others.
std::optional<DType> tensor_dtype_of(StDType dtype);

struct StTensorInfo {
  std::string name;
  StDType dtype;
  Shape shape;
  size_t begin = 0;  // byte offsets into the data section
  size_t end = 0;
};

// One .safetensors file, memory-mapped; the header is validated on open (offsets inside the file,
// contiguous and non-overlapping, sizes matching shape x dtype).
class SafetensorsFile {
 public:
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, StTensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  const StTensorInfo& info(const std::string& name) const;  // NOT_FOUND naming file and tensor
  const uint8_t* bytes(const StTensorInfo& info) const;    // start of the tensor's data
  // Drops the mapped pages this process has touched from its resident set (they stay in the page cache): a
  // streaming reader bounds its memory by calling this after each buffer it consumed.
  void release_pages() const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // data section (after the header)
  std::map<std::string, StTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Copies tensor `name` of `file` into `dst` (on any device) when its stored dtype and shape are exactly dst's; a
// missing tensor or any difference fails with `code`, naming the file, the tensor, both layouts and `hint`.
void read_tensor_exact(const SafetensorsFile& file, const std::string& name, Tensor& dst, StatusCode code,
                       const std::string& hint);

// A model's weights: a directory with `model.safetensors`, or with `model.safetensors.index.json` and its
// shards, or a path to one .safetensors file (or to an index.json). All files are opened and validated up front;
// reads only touch the mapped bytes, so concurrent reads from several threads are safe.
class SafetensorsCheckpoint {
 public:
  static SafetensorsCheckpoint open(const std::string& path);

  bool has(const std::string& name) const;
  Shape shape(const std::string& name) const;
  StDType dtype(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::string& source() const { return source_; }  // for messages
  // The file holding tensor `name` (NOT_FOUND naming the checkpoint and tensor).
  const SafetensorsFile& file_of(const std::string& name) const;

  // Reads the whole tensor into dst (a CPU f32 tensor whose shape must equal the stored shape; a mismatch is an
  // INVALID_ARGUMENT naming file, tensor and both shapes). Accepts F32, BF16, F16 (converted) and F64.
  void read_f32(const std::string& name, Tensor& dst) const;
  // Reads the block of a tensor whose extent along `dim` is dst.size(dim), starting at index `start` along
  // `dim`; all other dimensions must match. For tensor-parallel shards (dim 0: rows, dim 1: columns).
  void read_f32_slice(const std::string& name, Tensor& dst, int dim, int64_t start) const;
  // Whole tensors as doubles / integers (test references: F64, F32, BF16, F16 / I64, I32).
  std::vector<double> read_f64(const std::string& name) const;
  std::vector<int64_t> read_i64(const std::string& name) const;

 private:
  std::string source_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> index_;  // tensor name -> files_ position
};

// A safetensors header (the 8-byte length, then JSON padded with spaces to 8 bytes) for tensors stored in this
// order, back to back; `path` names the file in errors (an empty, reserved or repeated name).
struct StHeaderEntry {
  std::string name;
  StDType dtype;
  Shape shape;
};
std::string safetensors_header(const std::string& path, const std::vector<StHeaderEntry>& tensors,
                               const std::map<std::string, std::string>& metadata);
StDType st_dtype_of(DType dtype);

// Writes tensors (CPU, any Tensor dtype; stored as that dtype) to `path` atomically: a temporary file in the
// same directory, fsync, rename, fsync of the directory. Tensor names keep the given order.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace stepwise
