// Streaming one output file through a bounded buffer, hashing as it goes.
#include "convert/shard_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/status.h"
#include "io/hash.h"
#include "io/os_error.h"

namespace stepwise {

ShardWriter::ShardWriter(const ConvertSource& source, int64_t buffer_bytes)
    : source_(source), buffer_(static_cast<size_t>(std::max<int64_t>(buffer_bytes, 1 << 20))) {}

void ShardWriter::flush(int fd, const std::string& path, int64_t remaining, Xxh3Hasher& hasher) {
  hasher.update(buffer_.data(), used_);
  for (size_t done = 0; done < used_;) {
    const ssize_t n = ::write(fd, buffer_.data() + done, used_ - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == ENOSPC || errno == EDQUOT))
      fail(StatusCode::kResourceExhausted, path, ": the disk is full with ", remaining + static_cast<int64_t>(used_ - done),
           " bytes of this file still to write: free space there or choose another --output (nothing was renamed ",
           "into place; the partial output is removed by the next run)");
    if (n < 0) fail_os_error("cannot write", path, errno);
    done += static_cast<size_t>(n);
  }
  used_ = 0;
  for (const SafetensorsFile* f : touched_) f->release_pages();
  touched_.clear();
  touched_bytes_ = 0;
}

WrittenFile ShardWriter::write(const std::string& path, const OutputFile& file,
                               const std::function<void(int64_t)>& progress) {
  std::vector<StHeaderEntry> entries;
  for (const OutputTensor& t : file.tensors) entries.push_back({t.name, t.dtype, t.shape});
  const std::string header = safetensors_header(path, entries, file.metadata);
  const int64_t total = static_cast<int64_t>(header.size()) + file.data_bytes();

  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail_os_error("cannot create", path, errno);
  Xxh3Hasher hasher;
  used_ = 0;
  int64_t written = 0;  // bytes handed to flush()
  const auto flush_buffer = [&] {
    written += static_cast<int64_t>(used_);
    flush(fd, path, total - written, hasher);
    progress(written);
  };
  try {
    for (size_t at = 0; at < header.size();) {  // a header larger than the buffer goes in pieces
      const size_t n = std::min(header.size() - at, buffer_.size() - used_);
      std::copy_n(header.data() + at, n, buffer_.data() + used_);
      used_ += n;
      at += n;
      if (used_ == buffer_.size()) flush_buffer();
    }
    for (const OutputTensor& t : file.tensors) {
      const std::vector<SourcePiece> zeros = {SourcePiece{t.region, nullptr, nullptr, t.dtype, ""}};
      const std::vector<SourcePiece>& pieces = t.logical.empty() ? zeros : source_.pieces.at(t.logical);
      const std::string what = path + " tensor " + t.name;
      const size_t es = st_dtype_size(t.dtype);
      const int64_t n = t.region.numel();
      // Small steps (about 16 rows of the region), so that the input touched between two checks stays small.
      const int64_t step = std::clamp<int64_t>(t.region.nc * 16, 4096, 262144);
      for (int64_t i = 0; i < n;) {
        if (buffer_.size() - used_ < es) flush_buffer();
        const int64_t k = std::min({n - i, step, static_cast<int64_t>((buffer_.size() - used_) / es)});
        touched_bytes_ += copy_region(pieces, t.region, i, k, buffer_.data() + used_, t.dtype, what, touched_);
        used_ += static_cast<size_t>(k) * es;
        i += k;
        if (touched_bytes_ >= static_cast<int64_t>(buffer_.size())) flush_buffer();
      }
    }
    flush_buffer();
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) fail_os_error("cannot close", path, errno);
  return {total, hasher.digest()};
}

}  // namespace stepwise
