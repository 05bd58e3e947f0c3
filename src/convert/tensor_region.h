// Where the elements of a tensor stored in a checkpoint file sit in the whole ("logical") tensor, and the copy of
// any region from the pieces that hold it. Every layout stepwise converts between is such a region: a Hugging Face
// tensor is all of it; a tensor-parallel shard is a block of rows or columns; a ZeRO-1 optimizer slice is a flat
// element range of a TP block. Copies go run by run (a run: contiguous in both the source and the destination),
// converting the dtype, so any layout is re-laid into any other without assembling a whole tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace stepwise {

// The logical tensor is seen as 2-D [rows, cols] (a 1-D tensor of n elements is [n, 1]). A region is the block
// rows [r0, r0 + nr) x cols [c0, c0 + nc) of it and, of that block flattened row-major, the elements [begin, end).
struct TensorRegion {
  int64_t rows = 0, cols = 1;
  int64_t r0 = 0, nr = 0, c0 = 0, nc = 1;
  int64_t begin = 0, end = 0;

  int64_t numel() const { return end - begin; }
};

// All of a tensor of this shape (1-D or 2-D).
TensorRegion whole_region(const Shape& shape);
// The block of a TP shard: dim -1 (all), 0 (rows [start, start + shape[0])) or 1 (columns); all of the block.
TensorRegion shard_region(const Shape& full, int dim, int64_t start, const Shape& shard_shape);
// Of a region, the flat elements [begin, end) of its block.
TensorRegion flat_range(TensorRegion block, int64_t begin, int64_t end);

// Stored elements of a region: mapped bytes of a source file, or zeros (fresh optimizer moments).
struct SourcePiece {
  TensorRegion region;
  const SafetensorsFile* file = nullptr;  // null: zeros
  const uint8_t* data = nullptr;          // the region's first element
  StDType dtype = StDType::kF32;
  std::string where;                      // "file tensor name", for messages
};

// The floating-point dtypes a conversion reads and writes.
bool is_convertible_dtype(StDType dtype);

// Writes elements [first, first + count) of `want` (flat within it) into dst as `dtype`, from `pieces` (regions
// of the same logical tensor, in any layout; overlaps hold equal values). Files read from are added to `touched`.
// An element no piece holds is DATA_LOSS naming `what` (the tensor) and the element. Returns an estimate of the
// input bytes it touched (the runs read, each rounded up by a page), for callers that bound their memory.
int64_t copy_region(const std::vector<SourcePiece>& pieces, const TensorRegion& want, int64_t first, int64_t count,
                 void* dst, StDType dtype, const std::string& what, std::vector<const SafetensorsFile*>& touched);

}  // namespace stepwise
