// File checksums. XXH3-64 (Debian's libxxhash) for new checkpoints: it hashes at memory speed, far above any
// disk. FNV-1a 64 for token shards and for reading the checkpoint manifests written before XXH3 (version 1): it is
// defined byte by byte and so runs at about 1 GB/s. Neither is cryptographic; both catch truncation, bit rot and
// partial writes, and are the same on every platform.
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

// XXH3-64 of a stream, fed in pieces (the same digest as of the concatenation).
class Xxh3Hasher {
 public:
  Xxh3Hasher();
  ~Xxh3Hasher();
  Xxh3Hasher(const Xxh3Hasher&) = delete;
  Xxh3Hasher& operator=(const Xxh3Hasher&) = delete;
  void update(const void* data, size_t n);
  uint64_t digest() const;

 private:
  void* state_;  // XXH3_state_t (xxhash.h stays out of this header)
};

uint64_t xxh3_64_file(const std::string& path);

// 16 lowercase hex digits, and back (INVALID_ARGUMENT naming `what` for anything else).
std::string hash_hex(uint64_t h);
uint64_t parse_hash_hex(const std::string& text, const std::string& what);

}  // namespace stepwise
