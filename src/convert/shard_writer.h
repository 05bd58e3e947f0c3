// Streams one planned output file (convert/checkpoint_layout.h) to disk through a fixed buffer: the safetensors
// header, then each tensor's elements copied from the mapped input pieces a step at a time, written with write(2)
// and hashed (XXH3) as they go. After each buffer the input pages it touched are dropped from the resident set, so
// a rank's memory stays within the buffer whatever the model's size:
//   peak RSS <= RSS before converting + 2 x buffer (the output buffer, and the input pages of one buffer) + 16 MiB.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "convert/checkpoint_layout.h"
#include "io/hash.h"

namespace stepwise {

struct WrittenFile {
  int64_t bytes = 0;
  uint64_t xxh3 = 0;
};

class ShardWriter {
 public:
  // buffer_bytes: at least 1 MiB.
  ShardWriter(const ConvertSource& source, int64_t buffer_bytes);

  // Writes `file` to `path` (created, or truncated) and returns its size and checksum. The caller fsyncs it (after
  // writing its other files too, so that the disk works while the next file is produced). `progress` is
  // called with the data bytes written so far after each buffer. A full disk is RESOURCE_EXHAUSTED naming the file
  // and the bytes it still needed.
  WrittenFile write(const std::string& path, const OutputFile& file, const std::function<void(int64_t)>& progress);

 private:
  void flush(int fd, const std::string& path, int64_t remaining, Xxh3Hasher& hasher);

  const ConvertSource& source_;
  std::vector<uint8_t> buffer_;
  size_t used_ = 0;
  int64_t touched_bytes_ = 0;  // input bytes read since the last release (an estimate: whole pages per run)
  std::vector<const SafetensorsFile*> touched_;
};

}  // namespace stepwise
