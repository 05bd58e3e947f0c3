// Token shard files and the dataset index: writing (atomic per file), memory-mapped reading, validation.
#include "io/token_shards.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/status.h"
#include "io/atomic_file.h"
#include "io/contained_path.h"
#include "io/hash.h"
#include "io/json_file.h"
#include "io/os_error.h"

namespace stepwise {

namespace {

constexpr char kMagic[8] = {'S', 'W', 'T', 'O', 'K', 'E', 'N', 'S'};
constexpr size_t kHeaderBytes = 64;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  uint64_t num_documents;
  uint64_t num_tokens;
  uint64_t payload_hash;
  uint32_t vocab_bound;
  uint8_t reserved[20];
};
static_assert(sizeof(Header) == kHeaderBytes, "token shard header must be 64 bytes");

size_t padded_to_8(size_t n) { return (n + 7) / 8 * 8; }

// Payload bytes for T tokens and D documents.
size_t payload_bytes(uint64_t tokens, uint64_t docs) {
  return padded_to_8(static_cast<size_t>(tokens) * 5) + static_cast<size_t>(docs) * 8;
}

std::string shard_name(size_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05zu.tok", index);
  return buf;
}

}  // namespace

TokenShardWriter::TokenShardWriter(std::string dir, int64_t max_tokens_per_shard)
    : dir_(std::move(dir)), max_tokens_(max_tokens_per_shard) {
  SW_CHECK(max_tokens_ > 0, "max_tokens_per_shard ", max_tokens_);
}

void TokenShardWriter::add(const std::vector<int32_t>& tokens, const std::vector<uint8_t>& loss_mask) {
  SW_CHECK(!tokens.empty() && tokens.size() == loss_mask.size(), "document of ", tokens.size(), " tokens, ",
           loss_mask.size(), " mask entries");
  if (!tokens_.empty() && static_cast<int64_t>(tokens_.size() + tokens.size()) > max_tokens_) flush();
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  for (uint8_t m : loss_mask) mask_.push_back(m ? 1 : 0);
  doc_end_.push_back(tokens_.size());
}

void TokenShardWriter::flush() {
  if (doc_end_.empty()) return;
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kTokenShardVersion;
  h.header_bytes = kHeaderBytes;
  h.num_documents = doc_end_.size();
  h.num_tokens = tokens_.size();
  h.vocab_bound = static_cast<uint32_t>(*std::max_element(tokens_.begin(), tokens_.end())) + 1;
  const size_t token_bytes = tokens_.size() * sizeof(int32_t);
  const size_t pad = padded_to_8(tokens_.size() * 5) - tokens_.size() * 5;
  const uint8_t zeros[8] = {};
  Fnv1a64 hash;
  hash.update(tokens_.data(), token_bytes);
  hash.update(mask_.data(), mask_.size());
  hash.update(zeros, pad);
  hash.update(doc_end_.data(), doc_end_.size() * sizeof(uint64_t));
  h.payload_hash = hash.digest();

  ShardFile file{shard_name(written_.size()), static_cast<int64_t>(doc_end_.size()),
                 static_cast<int64_t>(tokens_.size()), h.payload_hash};
  write_file_atomic(dir_ + "/" + file.name, [&](std::FILE* f) {
    std::fwrite(&h, sizeof h, 1, f);
    std::fwrite(tokens_.data(), 1, token_bytes, f);
    std::fwrite(mask_.data(), 1, mask_.size(), f);
    std::fwrite(zeros, 1, pad, f);
    std::fwrite(doc_end_.data(), sizeof(uint64_t), doc_end_.size(), f);
  });
  written_.push_back(file);
  tokens_.clear();
  mask_.clear();
  doc_end_.clear();
}

std::vector<TokenShardWriter::ShardFile> TokenShardWriter::finish() {
  flush();
  return written_;
}

std::unique_ptr<TokenShardReader> TokenShardReader::open(const std::string& path) {
  std::unique_ptr<TokenShardReader> r(new TokenShardReader());
  r->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_os_error("cannot open token shard", path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail_os_error("cannot stat", path, err);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  const auto redo = " (re-run `stepwise data prepare` to rewrite the dataset)";
  if (size < kHeaderBytes) {
    ::close(fd);
    fail(StatusCode::kDataLoss, path, ": ", size, " bytes is too short for a token shard header", redo);
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (map == MAP_FAILED) fail_os_error("cannot map", path, err);
  r->map_ = map;
  r->map_size_ = size;

  Header h;
  std::memcpy(&h, map, sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0)
    fail(StatusCode::kDataLoss, path, ": not a stepwise token shard (bad magic)", redo);
  if (h.version != kTokenShardVersion || h.header_bytes != kHeaderBytes)
    fail(StatusCode::kDataLoss, path, ": token shard format version ", h.version, "; this stepwise reads version ",
         kTokenShardVersion, redo);
  if (h.num_tokens > (size_t{1} << 40) || h.num_documents > h.num_tokens ||
      size != kHeaderBytes + payload_bytes(h.num_tokens, h.num_documents))
    fail(StatusCode::kDataLoss, path, ": file is ", size, " bytes but its header describes ", h.num_documents,
         " documents and ", h.num_tokens, " tokens (truncated or overwritten?)", redo);
  const auto* payload = static_cast<const uint8_t*>(map) + kHeaderBytes;
  const uint64_t got = fnv1a64(payload, size - kHeaderBytes);
  if (got != h.payload_hash)
    fail(StatusCode::kDataLoss, path, ": checksum mismatch (FNV-1a ", hash_hex(got), ", header says ",
         hash_hex(h.payload_hash), "): the file is corrupted", redo);
  r->num_docs_ = h.num_documents;
  r->num_tokens_ = h.num_tokens;
  r->vocab_bound_ = static_cast<int32_t>(h.vocab_bound);
  r->payload_hash_ = h.payload_hash;
  r->tokens_ = reinterpret_cast<const int32_t*>(payload);
  r->mask_ = payload + h.num_tokens * 4;
  r->doc_end_ = reinterpret_cast<const uint64_t*>(payload + padded_to_8(h.num_tokens * 5));
  uint64_t prev = 0;
  for (uint64_t d = 0; d < h.num_documents; ++d) {
    if (r->doc_end_[d] <= prev || r->doc_end_[d] > h.num_tokens)
      fail(StatusCode::kDataLoss, path, ": document ", d, " has invalid boundaries", redo);
    prev = r->doc_end_[d];
  }
  if (prev != h.num_tokens) fail(StatusCode::kDataLoss, path, ": documents do not cover every token", redo);
  return r;
}

TokenShardReader::~TokenShardReader() {
  if (map_) ::munmap(map_, map_size_);
}

TokenShardReader::Document TokenShardReader::document(int64_t i) const {
  SW_CHECK(i >= 0 && static_cast<uint64_t>(i) < num_docs_, "document ", i, " of ", num_docs_);
  const uint64_t begin = i == 0 ? 0 : doc_end_[i - 1], end = doc_end_[i];
  return {tokens_ + begin, mask_ + begin, static_cast<int64_t>(end - begin)};
}

void write_token_dataset_index(const std::string& dir, const TokenDatasetIndex& index) {
  nlohmann::json shards = nlohmann::json::array();
  for (const auto& s : index.shards)
    shards.push_back({{"name", s.name}, {"documents", s.documents}, {"tokens", s.tokens},
                      {"fnv1a64", hash_hex(s.fnv1a64)}});
  nlohmann::json j = {{"format", "stepwise-token-dataset"},
                      {"version", kTokenShardVersion},
                      {"documents", index.documents},
                      {"tokens", index.tokens},
                      {"max_document_length", index.max_document_length},
                      {"vocab_bound", index.vocab_bound},
                      {"shards", shards},
                      {"summary", index.summary}};
  write_file_atomic(dir + "/dataset.json", j.dump(2) + "\n");
}

TokenDatasetIndex read_token_dataset_index(const std::string& dir) {
  const std::string path = dir + "/dataset.json";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    fail(StatusCode::kNotFound, "'", dir, "' is not a token dataset: ", path, " is missing (make one with ",
         "`stepwise data prepare --tokenizer DIR --input FILE.jsonl --output ", dir, "`)");
  const nlohmann::json j = read_json_file(path, StatusCode::kDataLoss);
  TokenDatasetIndex index;
  try {
    if (j.at("format") != "stepwise-token-dataset" || j.at("version") != kTokenShardVersion)
      fail(StatusCode::kDataLoss, path, ": not a stepwise token dataset of version ", kTokenShardVersion,
           " (re-run `stepwise data prepare`)");
    for (const auto& s : j.at("shards"))
      index.shards.push_back({s.at("name").get<std::string>(), s.at("documents").get<int64_t>(),
                              s.at("tokens").get<int64_t>(),
                              parse_hash_hex(s.at("fnv1a64").get<std::string>(), path + ": shards[].fnv1a64")});
    index.documents = j.at("documents").get<int64_t>();
    index.tokens = j.at("tokens").get<int64_t>();
    index.max_document_length = j.at("max_document_length").get<int64_t>();
    index.vocab_bound = j.at("vocab_bound").get<int32_t>();
    index.summary = j.value("summary", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    fail(StatusCode::kDataLoss, path, ": malformed dataset index (", e.what(), "); re-run `stepwise data prepare`");
  }
  return index;
}

std::vector<std::unique_ptr<TokenShardReader>> open_token_dataset(const std::string& dir) {
  const TokenDatasetIndex index = read_token_dataset_index(dir);
  std::vector<std::unique_ptr<TokenShardReader>> shards;
  for (size_t i = 0; i < index.shards.size(); ++i) {
    const TokenShardWriter::ShardFile& s = index.shards[i];
    auto r = TokenShardReader::open(
        contained_path(dir, s.name, dir + "/dataset.json", "shards[" + std::to_string(i) + "].name"));
    if (r->num_documents() != s.documents || r->num_tokens() != s.tokens || r->payload_hash() != s.fnv1a64)
      fail(StatusCode::kDataLoss, r->path(), ": does not match ", dir, "/dataset.json (", r->num_documents(),
           " documents, ", r->num_tokens(), " tokens, checksum ", hash_hex(r->payload_hash()), "; the index says ",
           s.documents, ", ", s.tokens, ", ", hash_hex(s.fnv1a64), "): shards from another preparation? re-run ",
           "`stepwise data prepare`");
    shards.push_back(std::move(r));
  }
  return shards;
}

}  // namespace stepwise
