// write_file_atomic: a file appears whole or not at all, replaces an older one whole, and a failed write leaves
// neither a temporary file nor a damaged target.
#include "io/atomic_file.h"

#include <gtest/gtest.h>

#include "io_test_util.h"

namespace stepwise {
namespace {

using namespace io_test;

TEST(AtomicFile, CreatesTheFileAndNoTemporaryRemains) {
  ScratchDir dir;
  write_file_atomic(dir.file("a.json"), std::string("{\"x\": 1}\n"));
  EXPECT_EQ(read_bytes(dir.file("a.json")), "{\"x\": 1}\n");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a.json"});
}

TEST(AtomicFile, ReplacesAnExistingFileWhole) {
  ScratchDir dir;
  write_bytes(dir.file("a.txt"), std::string(10000, 'o'));
  write_file_atomic(dir.file("a.txt"), [](std::FILE* f) { std::fputs("new", f); });
  EXPECT_EQ(read_bytes(dir.file("a.txt")), "new");  // none of the old, longer contents left behind
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a.txt"});
}

TEST(AtomicFile, AFailedWriteKeepsTheOldFileAndRemovesTheTemporary) {
  ScratchDir dir;
  write_bytes(dir.file("a.txt"), "old");
  EXPECT_STATUS_ERROR(write_file_atomic(dir.file("a.txt"),
                                        [](std::FILE* f) {
                                          std::fputs("half of the new conten", f);
                                          fail(StatusCode::kInternal, "writer gave up");
                                        }),
                      StatusCode::kInternal, {"writer gave up"});
  EXPECT_EQ(read_bytes(dir.file("a.txt")), "old");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a.txt"});
}

TEST(AtomicFile, MissingDirectoryIsNamed) {
  ScratchDir dir;
  const std::string path = dir.file("no/such/dir/a.txt");
  EXPECT_STATUS_ERROR(write_file_atomic(path, std::string("x")), StatusCode::kNotFound, {dir.file("no/such/dir/")});
  EXPECT_STATUS_ERROR(fsync_directory(dir.file("no")), StatusCode::kNotFound, {dir.file("no")});
}

TEST(AtomicFile, ParentDirectory) {
  EXPECT_EQ(parent_directory("/a/b/c.json"), "/a/b");
  EXPECT_EQ(parent_directory("/c.json"), "/");
  EXPECT_EQ(parent_directory("c.json"), ".");
  EXPECT_EQ(parent_directory("runs/step-10/manifest.json"), "runs/step-10");
}

}  // namespace
}  // namespace stepwise
