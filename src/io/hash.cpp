// FNV-1a 64 over buffers and files.
#include "io/hash.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "core/status.h"
#include "io/os_error.h"

namespace stepwise {

void Fnv1a64::update(const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = h_;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * kPrime;
  h_ = h;
}

uint64_t fnv1a64(const void* data, size_t n) {
  Fnv1a64 h;
  h.update(data, n);
  return h.digest();
}

uint64_t fnv1a64_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_os_error("cannot open", path, errno);
  std::vector<unsigned char> buf(1 << 20);
  Fnv1a64 h;
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      fail_os_error("cannot read", path, err);
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return h.digest();
}

std::string hash_hex(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

uint64_t parse_hash_hex(const std::string& text, const std::string& what) {
  if (text.size() != 16 || text.find_first_not_of("0123456789abcdef") != std::string::npos)
    invalid_argument(what, ": expected 16 lowercase hex digits, got '", text, "'");
  return std::stoull(text, nullptr, 16);
}

}  // namespace stepwise
