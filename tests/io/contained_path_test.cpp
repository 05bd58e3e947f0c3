// File names read from files stay inside their folder: contained_path itself, and each listing that uses it
// (a sharded checkpoint's weight_map, a checkpoint manifest). Token dataset shard lists: tests/train.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/checkpoint_dir.h"
#include "io/contained_path.h"
#include "io/safetensors.h"
#include "io_test_util.h"

namespace stepwise {
namespace {

using namespace io_test;
namespace fs = std::filesystem;

// scratch/folder/{inside.safetensors, sub/deeper.safetensors} and scratch/outside.safetensors, with links from the
// folder to each.
class ContainedPath : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(folder + "/sub");
    write_safetensors(folder + "/inside.safetensors", {{"a", f32_tensor({1, 2}, {2})}});
    write_safetensors(folder + "/sub/deeper.safetensors", {{"b", f32_tensor({3}, {1})}});
    write_safetensors(scratch.file("outside.safetensors"), {{"secret", f32_tensor({4}, {1})}});
    fs::create_symlink("../outside.safetensors", folder + "/link-out.safetensors");
    fs::create_symlink("sub/deeper.safetensors", folder + "/link-in.safetensors");
    fs::create_symlink(scratch.path(), folder + "/sub/up");
  }
  std::string contained(const std::string& name) { return contained_path(folder, name, listing, "entry 'x'"); }

  ScratchDir scratch;
  const std::string folder = scratch.file("folder");
  const std::string listing = folder + "/listing.json";
};

TEST_F(ContainedPath, NamesInsideTheFolderResolve) {
  EXPECT_EQ(contained("inside.safetensors"), folder + "/inside.safetensors");
  EXPECT_EQ(contained("sub/deeper.safetensors"), folder + "/sub/deeper.safetensors");
  EXPECT_EQ(contained("./inside.safetensors"), folder + "/./inside.safetensors");
  EXPECT_EQ(contained("link-in.safetensors"), folder + "/link-in.safetensors");  // a link that stays inside
  EXPECT_EQ(contained("not-there-yet.safetensors"), folder + "/not-there-yet.safetensors");
}

TEST_F(ContainedPath, EscapesAreRefusedNamingListingEntryAndWhatToDo) {
  const auto refused = [&](const std::string& name, const std::string& why) {
    EXPECT_STATUS_ERROR(contained(name), StatusCode::kInvalidArgument,
                        {listing, "entry 'x'", why, "must stay inside " + folder, "fix or regenerate"});
  };
  refused("../outside.safetensors", "'..' component");
  refused("sub/../../outside.safetensors", "'..' component");
  refused("..", "'..' component");
  refused(scratch.file("outside.safetensors"), "an absolute path");
  refused("/etc/passwd", "an absolute path");
  refused("", "an empty file name");
  refused(std::string("inside.safetensors") + '\0' + "../../etc/passwd", "inside.safetensors\\x00../../etc/passwd");
}

TEST_F(ContainedPath, SymbolicLinksOutOfTheFolderAreRefused) {
  const std::string outside = scratch.file("outside.safetensors");
  for (const std::string name : {"link-out.safetensors", "sub/up/outside.safetensors"})
    EXPECT_STATUS_ERROR(contained(name), StatusCode::kInvalidArgument,
                        {listing, "entry 'x'", "resolves (through symbolic links) to " + outside,
                         "replace the link with a copy"});
}

// huggingface_hub's cache: models--org--name/snapshots/<revision>/<file> -> ../../blobs/<sha256>.
TEST_F(ContainedPath, TheHubCacheLayoutIsLetThrough) {
  const std::string repo = scratch.file("models--org--name");
  const std::string snapshot = repo + "/snapshots/0123abcd";
  fs::create_directories(snapshot);
  fs::create_directories(repo + "/blobs");
  write_safetensors(repo + "/blobs/5f2e", {{"a", f32_tensor({1}, {1})}});
  fs::create_symlink("../../blobs/5f2e", snapshot + "/model-00001-of-00002.safetensors");
  EXPECT_EQ(contained_path(snapshot, "model-00001-of-00002.safetensors", listing, "entry"),
            snapshot + "/model-00001-of-00002.safetensors");
  // Anything else from there is still outside.
  fs::create_symlink("../../../outside.safetensors", snapshot + "/model-00002-of-00002.safetensors");
  EXPECT_STATUS_ERROR(contained_path(snapshot, "model-00002-of-00002.safetensors", listing, "entry"),
                      StatusCode::kInvalidArgument, {"symbolic links"});
}

// The bug this guards against: `"weight_map": {"a": "../../etc/passwd"}` used to be opened.
TEST_F(ContainedPath, AnIndexNamingAFileOutsideTheModelFolderIsRefused) {
  const std::string index = folder + "/model.safetensors.index.json";
  write_bytes(index, R"({"weight_map":{"a":"inside.safetensors","b":"sub/deeper.safetensors"}})");
  EXPECT_EQ(SafetensorsCheckpoint::open(folder).names(), (std::vector<std::string>{"a", "b"}));  // control
  for (const std::string shard : {"../outside.safetensors", "link-out.safetensors", "/etc/passwd",
                                  "../../../../../../etc/passwd"}) {
    write_bytes(index, R"({"weight_map":{"a":"inside.safetensors","secret":")" + shard + R"("}})");
    EXPECT_STATUS_ERROR(SafetensorsCheckpoint::open(folder), StatusCode::kInvalidArgument,
                        {index, "weight_map entry for tensor 'secret'", shard});
  }
}

TEST_F(ContainedPath, AManifestNamingAFileOutsideTheCheckpointIsRefused) {
  CheckpointManifest m;
  m.step = 3;
  m.files = {describe_checkpoint_file(folder, "inside.safetensors")};
  const std::string tmp = begin_checkpoint(scratch.file("run"), 3);
  fs::copy_file(folder + "/inside.safetensors", tmp + "/inside.safetensors");
  const std::string dir = commit_checkpoint(scratch.file("run"), tmp, m);
  verify_checkpoint_file(dir, read_checkpoint_manifest(dir).files.at(0));  // control

  fs::copy_file(scratch.file("outside.safetensors"), scratch.file("run/outside.safetensors"));
  m.files = {describe_checkpoint_file(scratch.path(), "outside.safetensors")};
  m.files[0].name = "../outside.safetensors";
  commit_checkpoint(scratch.file("run"), begin_checkpoint(scratch.file("run"), 3), m);
  EXPECT_STATUS_ERROR(read_checkpoint_manifest(dir), StatusCode::kInvalidArgument,
                      {dir + "/manifest.json", "files[0].name", "'..' component"});
  EXPECT_STATUS_ERROR(verify_checkpoint_file(dir, m.files[0]), StatusCode::kInvalidArgument,
                      {dir + "/manifest.json", "../outside.safetensors", "'..' component"});
}

}  // namespace
}  // namespace stepwise
