// Regions of logical tensors and the run-by-run copy between layouts.
#include "convert/tensor_region.h"

#include <algorithm>
#include <cstring>

#include "core/dtype.h"
#include "core/status.h"

namespace stepwise {

namespace {

float load_float(const uint8_t* p, StDType dtype) {
  uint16_t h;
  switch (dtype) {
    case StDType::kBF16: std::memcpy(&h, p, 2); return bf16_to_f32(h);
    case StDType::kF16: std::memcpy(&h, p, 2); return f16_to_f32(h);
    default: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
  }
}

void store_float(uint8_t* p, StDType dtype, float f) {
  uint16_t h;
  switch (dtype) {
    case StDType::kBF16: h = f32_to_bf16(f); std::memcpy(p, &h, 2); return;
    case StDType::kF16: h = f32_to_f16(f); std::memcpy(p, &h, 2); return;
    default: std::memcpy(p, &f, 4); return;
  }
}

// n elements of a piece, from its element `at` on, into dst as `dtype` (rounded to nearest even when narrower).
void convert_elements(const SourcePiece& piece, int64_t at, int64_t n, uint8_t* dst, StDType dtype) {
  const size_t out_es = st_dtype_size(dtype);
  if (!piece.file) {
    std::memset(dst, 0, static_cast<size_t>(n) * out_es);
    return;
  }
  const size_t in_es = st_dtype_size(piece.dtype);
  const uint8_t* src = piece.data + static_cast<size_t>(at) * in_es;
  if (piece.dtype == dtype) {
    std::memcpy(dst, src, static_cast<size_t>(n) * out_es);
    return;
  }
  for (int64_t i = 0; i < n; ++i) store_float(dst + i * out_es, dtype, load_float(src + i * in_es, piece.dtype));
}

}  // namespace

TensorRegion whole_region(const Shape& shape) {
  TensorRegion r;
  r.rows = shape.empty() ? 1 : shape[0];
  r.cols = shape.size() >= 2 ? shape[1] : 1;
  SW_CHECK(shape.size() <= 2, "tensor of rank ", shape.size());
  r.nr = r.rows;
  r.nc = r.cols;
  r.end = r.rows * r.cols;
  return r;
}

TensorRegion shard_region(const Shape& full, int dim, int64_t start, const Shape& shard_shape) {
  TensorRegion r = whole_region(full);
  if (dim == 0) {
    r.r0 = start;
    r.nr = shard_shape[0];
  } else if (dim == 1) {
    r.c0 = start;
    r.nc = shard_shape[1];
  }
  r.end = r.nr * r.nc;
  return r;
}

TensorRegion flat_range(TensorRegion block, int64_t begin, int64_t end) {
  SW_CHECK(0 <= begin && begin <= end && end <= block.nr * block.nc, "flat range ", begin, ":", end);
  block.begin = begin;
  block.end = end;
  return block;
}

bool is_convertible_dtype(StDType dtype) {
  return dtype == StDType::kF32 || dtype == StDType::kBF16 || dtype == StDType::kF16;
}

int64_t copy_region(const std::vector<SourcePiece>& pieces, const TensorRegion& want, int64_t first, int64_t count,
                    void* dst, StDType dtype, const std::string& what, std::vector<const SafetensorsFile*>& touched) {
  constexpr int64_t kPage = 4096;
  const size_t out_es = st_dtype_size(dtype);
  int64_t read = 0;
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t start = want.begin + first, stop = start + count;
  for (int64_t f = start; f < stop;) {
    // A run: the rest of one row of the block, so that it is contiguous in the logical tensor too.
    const int64_t row = want.r0 + f / want.nc, col = want.c0 + f % want.nc;
    const int64_t len = std::min(stop - f, want.c0 + want.nc - col);
    int64_t covered = 0;
    for (const SourcePiece& p : pieces) {
      const TensorRegion& s = p.region;
      if (row < s.r0 || row >= s.r0 + s.nr) continue;
      const int64_t a = std::max(col, s.c0), b = std::min(col + len, s.c0 + s.nc);
      if (a >= b) continue;
      const int64_t at = (row - s.r0) * s.nc + (a - s.c0);  // column a in the piece's flat order
      const int64_t lo = std::max(at, s.begin), hi = std::min(at + (b - a), s.end);
      if (lo >= hi) continue;
      const int64_t out_col = a + (lo - at);
      convert_elements(p, lo - s.begin, hi - lo, out + static_cast<size_t>(f - start + out_col - col) * out_es, dtype);
      covered += hi - lo;
      if (p.file) read += (hi - lo) * static_cast<int64_t>(st_dtype_size(p.dtype)) + kPage;
      if (p.file && std::find(touched.begin(), touched.end(), p.file) == touched.end()) touched.push_back(p.file);
    }
    if (covered != len)
      fail(StatusCode::kDataLoss, what, ": the input holds ", covered, " of the ", len, " elements at row ", row,
           ", columns ", col, "..", col + len - 1, " (", covered < len ? "missing" : "overlapping",
           " shards: an incomplete or inconsistent checkpoint)");
    f += len;
  }
  return read;
}

}  // namespace stepwise
