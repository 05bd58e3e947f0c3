// Token shards and dataset indexes: round trip, shard splitting, and every kind of damage caught on open.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/status.h"
#include "io/token_shards.h"
#include "train_test_util.h"

namespace stepwise::train_test {
namespace {

struct Doc {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> mask;
};

std::vector<Doc> sample_docs() {
  std::vector<Doc> docs;
  for (int d = 0; d < 7; ++d) {
    Doc doc;
    for (int t = 0; t < 3 + 5 * d; ++t) {
      doc.tokens.push_back(1000 * d + t);
      doc.mask.push_back(t % 3 == 0);
    }
    docs.push_back(doc);
  }
  return docs;
}

TokenDatasetIndex write_docs(const std::string& dir, const std::vector<Doc>& docs, int64_t shard_tokens) {
  TokenShardWriter writer(dir, shard_tokens);
  TokenDatasetIndex index;
  for (const Doc& d : docs) {
    writer.add(d.tokens, d.mask);
    index.tokens += static_cast<int64_t>(d.tokens.size());
    index.max_document_length = std::max<int64_t>(index.max_document_length, static_cast<int64_t>(d.tokens.size()));
  }
  index.shards = writer.finish();
  index.documents = static_cast<int64_t>(docs.size());
  index.vocab_bound = 6030;
  write_token_dataset_index(dir, index);
  return index;
}

TEST(TokenShards, RoundTripAcrossShards) {
  const std::string dir = fresh_test_dir("roundtrip");
  const std::vector<Doc> docs = sample_docs();
  const TokenDatasetIndex index = write_docs(dir, docs, /*shard_tokens=*/40);
  EXPECT_GT(index.shards.size(), 2u);  // 3+8+...+33 = 126 tokens in shards of at most 40 (or one long document)
  const auto shards = open_token_dataset(dir);
  size_t d = 0;
  for (const auto& shard : shards) {
    for (int64_t i = 0; i < shard->num_documents(); ++i, ++d) {
      ASSERT_LT(d, docs.size());
      const TokenShardReader::Document doc = shard->document(i);
      EXPECT_EQ(std::vector<int32_t>(doc.tokens, doc.tokens + doc.length), docs[d].tokens) << "document " << d;
      EXPECT_EQ(std::vector<uint8_t>(doc.loss_mask, doc.loss_mask + doc.length), docs[d].mask) << "document " << d;
    }
  }
  EXPECT_EQ(d, docs.size());
  const TokenDatasetIndex back = read_token_dataset_index(dir);
  EXPECT_EQ(back.documents, 7);
  EXPECT_EQ(back.tokens, index.tokens);
  EXPECT_EQ(back.max_document_length, 33);
}

// Flips one byte of the first shard at `offset` (from the end when negative).
void corrupt(const std::string& path, long offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset, offset < 0 ? std::ios::end : std::ios::beg);
  const std::streampos at = f.tellg();
  char c;
  f.read(&c, 1);
  c ^= 0x40;
  f.seekp(at);
  f.write(&c, 1);
}

void expect_data_loss(const std::string& dir, const std::string& needle) {
  try {
    open_token_dataset(dir);
    ADD_FAILURE() << "no error for " << needle;
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), StatusCode::kDataLoss) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("stepwise data prepare"), std::string::npos) << e.what();
  }
}

TEST(TokenShards, FlippedTokenByteFailsTheChecksum) {
  const std::string dir = fresh_test_dir("flip");
  write_docs(dir, sample_docs(), 1000);
  corrupt(dir + "/shard-00000.tok", 64 + 4 * 10);
  expect_data_loss(dir, "checksum mismatch");
}

TEST(TokenShards, TruncatedShardIsCaught) {
  const std::string dir = fresh_test_dir("truncate");
  write_docs(dir, sample_docs(), 1000);
  std::filesystem::resize_file(dir + "/shard-00000.tok", 100);
  expect_data_loss(dir, "truncated");
}

TEST(TokenShards, BadMagicAndVersionAreCaught) {
  const std::string dir = fresh_test_dir("magic");
  write_docs(dir, sample_docs(), 1000);
  corrupt(dir + "/shard-00000.tok", 0);
  expect_data_loss(dir, "bad magic");
  write_docs(dir, sample_docs(), 1000);
  corrupt(dir + "/shard-00000.tok", 8);  // the version
  expect_data_loss(dir, "format version");
}

TEST(TokenShards, ShardFromAnotherPreparationIsCaught) {
  const std::string a = fresh_test_dir("mix_a"), b = fresh_test_dir("mix_b");
  write_docs(a, sample_docs(), 1000);
  std::vector<Doc> other = sample_docs();
  other[0].tokens[0] = 5;
  write_docs(b, other, 1000);
  std::filesystem::copy_file(b + "/shard-00000.tok", a + "/shard-00000.tok",
                             std::filesystem::copy_options::overwrite_existing);
  expect_data_loss(a, "does not match");
}

// dataset.json's shard names stay inside the dataset directory, even when the file they reach would match.
TEST(TokenShards, ShardNamesOutsideTheDatasetAreRefused) {
  const std::string dir = fresh_test_dir("escape"), other = fresh_test_dir("escape_other");
  write_docs(other, sample_docs(), 1000);
  const TokenDatasetIndex index = write_docs(dir, sample_docs(), 1000);
  std::filesystem::create_symlink(other + "/shard-00000.tok", dir + "/linked.tok");
  const std::string up = "../" + std::filesystem::path(other).filename().string() + "/shard-00000.tok";
  for (const std::string& name : {up, other + "/shard-00000.tok", std::string("linked.tok")}) {
    TokenDatasetIndex edited = index;
    edited.shards[0].name = name;
    write_token_dataset_index(dir, edited);
    try {
      open_token_dataset(dir);
      ADD_FAILURE() << name << " was opened";
    } catch (const StatusError& e) {
      EXPECT_EQ(e.code(), StatusCode::kInvalidArgument) << e.what();
      for (const std::string& part : {dir + "/dataset.json", std::string("shards[0].name"), name})
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  }
}

TEST(TokenShards, MissingIndexSaysHowToMakeOne) {
  const std::string dir = fresh_test_dir("noindex");
  try {
    open_token_dataset(dir);
    FAIL();
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), StatusCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("stepwise data prepare"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stepwise::train_test
