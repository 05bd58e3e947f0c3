// FNV-1a, 64-bit: the checksum of checkpoint and token-shard files. Not cryptographic; it catches truncation,
// bit rot and partial writes, needs no dependency, and is the same on every platform (defined byte by byte).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace stepwise {

class Fnv1a64 {
 public:
  static constexpr uint64_t kOffsetBasis = 0xcbf29ce484222325ull;
  static constexpr uint64_t kPrime = 0x100000001b3ull;

  void update(const void* data, size_t n);
  uint64_t digest() const { return h_; }

 private:
  uint64_t h_ = kOffsetBasis;
};

uint64_t fnv1a64(const void* data, size_t n);
// The hash of a whole file, read in chunks; a missing or unreadable file fails as the system call did.
uint64_t fnv1a64_file(const std::string& path);

// 16 lowercase hex digits, and back (INVALID_ARGUMENT naming `what` for anything else).
std::string hash_hex(uint64_t h);
uint64_t parse_hash_hex(const std::string& text, const std::string& what);

}  // namespace stepwise
