// FNV-1a 64 and XXH3-64 over buffers and files.
#include "io/hash.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <new>
#include <vector>

#include <xxhash.h>

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

namespace {

// Feeds a whole file to `update` in 1 MiB reads; a missing or unreadable file fails as the system call did.
template <typename Update>
void read_file_chunks(const std::string& path, Update update) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_os_error("cannot open", path, errno);
  std::vector<unsigned char> buf(1 << 20);
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      fail_os_error("cannot read", path, err);
    }
    if (n == 0) break;
    update(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
}

}  // namespace

uint64_t fnv1a64_file(const std::string& path) {
  Fnv1a64 h;
  read_file_chunks(path, [&h](const void* p, size_t n) { h.update(p, n); });
  return h.digest();
}

Xxh3Hasher::Xxh3Hasher() : state_(XXH3_createState()) {
  if (!state_) throw std::bad_alloc();
  XXH3_64bits_reset(static_cast<XXH3_state_t*>(state_));
}
Xxh3Hasher::~Xxh3Hasher() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }
void Xxh3Hasher::update(const void* data, size_t n) { XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data, n); }
uint64_t Xxh3Hasher::digest() const { return XXH3_64bits_digest(static_cast<XXH3_state_t*>(state_)); }

uint64_t xxh3_64_file(const std::string& path) {
  Xxh3Hasher h;
  read_file_chunks(path, [&h](const void* p, size_t n) { h.update(p, n); });
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
