// Shared by the fuzz targets: the boundary between a parser refusing bad input (a StatusError, as documented) and
// a finding (anything else: a crash, a sanitizer report, another exception type, a broken property), and a scratch
// directory for the parsers that read files.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/status.h"

namespace stepwise::fuzz {

// Runs `parse`; a StatusError is the expected refusal of bad input. Any other exception escapes, and libFuzzer
// reports the abort that follows as a crash with the input that caused it.
template <class Fn>
void refusing_with_status_errors(Fn&& parse) {
  try {
    parse();
  } catch (const StatusError&) {
  }
}

// A broken property of accepted input: print it and abort, so that libFuzzer saves the input.
template <class... Args>
[[noreturn]] void finding(const Args&... args) {
  std::fprintf(stderr, "fuzz finding: %s\n", detail::concat(args...).c_str());
  std::abort();
}

// A directory for this process, on tmpfs when there is one (the parsers fsync what they write), removed at exit.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmpdir = std::getenv("TMPDIR");
    const std::string base = tmpdir ? tmpdir : std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string pattern = base + "/stepwise-fuzz-XXXXXX";
    if (!::mkdtemp(pattern.data())) finding("mkdtemp failed for ", pattern);
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  // Replaces dir/name with the bytes; returns its path.
  std::string write(const std::string& name, const uint8_t* data, size_t size) const {
    const std::string path = path_ + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) finding("cannot write ", path);
    return path;
  }

 private:
  std::string path_;
};

inline std::string as_string(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace stepwise::fuzz
