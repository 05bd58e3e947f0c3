// Fuzz target: a whole .safetensors file (8-byte header length, JSON header, data section) through
// SafetensorsCheckpoint::open and every reader. A file the reader accepts must be readable in full, and its float
// tensors must read the same through read_f32 and read_f64.
#include <cmath>
#include <cstring>

#include "fuzz_util.h"
#include "io/safetensors.h"

using namespace stepwise;

namespace {

bool same_float(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

void read_everything(const SafetensorsCheckpoint& ckpt) {
  for (const std::string& name : ckpt.names()) {
    const StDType dtype = ckpt.dtype(name);
    if (dtype == StDType::kI64 || dtype == StDType::kI32) {
      const std::vector<int64_t> values = ckpt.read_i64(name);
      if (static_cast<int64_t>(values.size()) != shape_numel(ckpt.shape(name))) fuzz::finding(name, ": read_i64 size");
      continue;
    }
    if (dtype != StDType::kF64 && !tensor_dtype_of(dtype)) continue;  // integer types read_i64 does not take
    const std::vector<double> wide = ckpt.read_f64(name);
    Tensor narrow = Tensor::empty(ckpt.shape(name), DType::kF32);
    ckpt.read_f32(name, narrow);
    if (static_cast<int64_t>(wide.size()) != narrow.numel()) fuzz::finding(name, ": read_f64 and read_f32 sizes");
    const float* f = narrow.data_as<float>();
    for (size_t i = 0; i < wide.size(); ++i)
      if (!same_float(static_cast<float>(wide[i]), f[i]))
        fuzz::finding(name, "[", i, "]: read_f32 and read_f64 differ");
    if (!ckpt.shape(name).empty() && ckpt.shape(name)[0] >= 2) {  // the second half of the rows, as a TP rank reads
      Shape half = ckpt.shape(name);
      const int64_t start = half[0] / 2;
      half[0] -= start;
      Tensor rows = Tensor::empty(half, DType::kF32);
      ckpt.read_f32_slice(name, rows, 0, start);
      const size_t offset = static_cast<size_t>(narrow.numel() - rows.numel());
      for (int64_t i = 0; i < rows.numel(); ++i)
        if (!same_float(rows.data_as<float>()[i], f[offset + static_cast<size_t>(i)]))
          fuzz::finding(name, ": read_f32_slice differs from read_f32 at ", i);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fuzz::ScratchDir dir;
  const std::string path = dir.write("model.safetensors", data, size);
  fuzz::refusing_with_status_errors([&] { read_everything(SafetensorsCheckpoint::open(path)); });
  return 0;
}
