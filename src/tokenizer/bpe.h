// The byte-level BPE model of a Hugging Face tokenizer.json: vocab ids of the 256 bytes, merge ranks, and
// the merge loop that turns one pre-token's bytes into ids exactly as tokenizers' BPE (Word::merge_all) does.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace stepwise {

class ByteLevelBpe {
 public:
  // `vocab` maps tokenizer.json spellings to ids; `merges` are (left, right) spellings in rank order. With
  // `ignore_merges` (Llama 3) a pre-token that is itself in the vocab becomes that one id. Errors name `file`.
  ByteLevelBpe(const std::unordered_map<std::string, int32_t>& vocab,
               const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges,
               const std::string& file);

  // Appends the ids of one pre-token (its raw bytes) to *ids and, when `ends` is not null, the end offset of
  // each id's bytes within `bytes`.
  void encode(std::string_view bytes, std::vector<int32_t>* ids, std::vector<uint32_t>* ends) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t id;  // the merged token
  };
  // Open addressing over (left id, right id) keys: the merge loop looks pairs up millions of times a second.
  struct Slot {
    uint64_t key;
    Merge merge;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  const Merge* find_merge(int32_t left, int32_t right) const;
  void insert_merge(int32_t left, int32_t right, Merge m);
  // The merge loop proper, appending the ids of `bytes` (at least one byte).
  void merge(std::string_view bytes, std::vector<int32_t>* ids) const;

  uint64_t instance_;  // tells this model's per-thread word caches from other models'
  std::array<int32_t, 256> byte_ids_{};
  std::vector<uint32_t> token_lengths_;  // id -> bytes, for offsets
  std::vector<Slot> slots_;
  uint64_t slot_mask_ = 0;
  std::unordered_map<std::string, int32_t> whole_words_;  // raw bytes -> id, filled only with ignore_merges
};

}  // namespace stepwise
