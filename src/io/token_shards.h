// Token shards: the binary files `stepwise data prepare` writes and the SFT loader memory-maps. A shard holds
// whole documents: their tokens, a loss mask (1 where the token is a training target, i.e. predicted from the
// tokens before it) and document boundaries. A dataset is a directory of shards plus dataset.json, which lists
// the shards with their checksums and the preparation summary.
//
// Shard layout (little-endian):
//   header, 64 bytes: magic "SWTOKENS", u32 version (1), u32 header size (64), u64 documents D, u64 tokens T,
//                     u64 FNV-1a 64 of everything after the header, u32 vocab bound (1 + largest id), 20 zero bytes
//   i32 tokens[T] | u8 loss_mask[T] | zero padding to a multiple of 8 | u64 doc_end[D]
//   (document d is tokens [doc_end[d-1], doc_end[d]), with doc_end[-1] = 0)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace stepwise {

constexpr uint32_t kTokenShardVersion = 1;

// Collects documents and writes them as shards of at most `max_tokens_per_shard` tokens (a longer document gets
// a shard of its own) into `dir`, each file atomically, named shard-00000.tok, shard-00001.tok, ...
class TokenShardWriter {
 public:
  struct ShardFile {
    std::string name;  // relative to the directory
    int64_t documents = 0, tokens = 0;
    uint64_t fnv1a64 = 0;  // of the payload (everything after the header), as the header records it
  };

  TokenShardWriter(std::string dir, int64_t max_tokens_per_shard);
  // loss_mask[t] != 0: token t is a target. Empty documents are refused.
  void add(const std::vector<int32_t>& tokens, const std::vector<uint8_t>& loss_mask);
  // Writes what is pending and returns every shard written.
  std::vector<ShardFile> finish();

 private:
  void flush();
  std::string dir_;
  int64_t max_tokens_;
  std::vector<int32_t> tokens_;
  std::vector<uint8_t> mask_;
  std::vector<uint64_t> doc_end_;
  std::vector<ShardFile> written_;
};

// One shard, memory-mapped and validated on open (magic, version, sizes, and the checksum when `verify`).
// Errors are DATA_LOSS naming the file and what to do.
class TokenShardReader {
 public:
  struct Document {
    const int32_t* tokens;
    const uint8_t* loss_mask;
    int64_t length;
  };

  static std::unique_ptr<TokenShardReader> open(const std::string& path);
  ~TokenShardReader();
  TokenShardReader(const TokenShardReader&) = delete;
  TokenShardReader& operator=(const TokenShardReader&) = delete;

  const std::string& path() const { return path_; }
  int64_t num_documents() const { return static_cast<int64_t>(num_docs_); }
  int64_t num_tokens() const { return static_cast<int64_t>(num_tokens_); }
  int32_t vocab_bound() const { return vocab_bound_; }
  uint64_t payload_hash() const { return payload_hash_; }
  Document document(int64_t i) const;

 private:
  TokenShardReader() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  uint64_t num_docs_ = 0, num_tokens_ = 0;
  int32_t vocab_bound_ = 0;
  uint64_t payload_hash_ = 0;
  const int32_t* tokens_ = nullptr;
  const uint8_t* mask_ = nullptr;
  const uint64_t* doc_end_ = nullptr;
};

// dataset.json: {"format": "stepwise-token-dataset", "version": 1, "shards": [{name, documents, tokens, fnv1a64}],
// "documents", "tokens", "max_document_length", "vocab_bound", "summary": {...}}.
struct TokenDatasetIndex {
  std::vector<TokenShardWriter::ShardFile> shards;
  int64_t documents = 0, tokens = 0, max_document_length = 0;
  int32_t vocab_bound = 0;
  nlohmann::json summary;  // what the preparation reports (sources, skipped lines, ...)
};
void write_token_dataset_index(const std::string& dir, const TokenDatasetIndex& index);
TokenDatasetIndex read_token_dataset_index(const std::string& dir);

// Every shard of a dataset directory, opened (the index's counts and checksums must match the files).
std::vector<std::unique_ptr<TokenShardReader>> open_token_dataset(const std::string& dir);

}  // namespace stepwise
