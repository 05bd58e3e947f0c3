// Scratch directories for tests (test_dir.h).
#include "common/test_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace stepwise::test {

std::string fresh_test_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("stepwise-" + std::to_string(getpid()) + "-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.lexically_normal().string();
}

}  // namespace stepwise::test
