// Byte-level BPE: merges are applied lowest rank first, leftmost first among equal ranks, with stale queue
// entries skipped exactly as in tokenizers' Word::merge_all, so the ids match Hugging Face's.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <atomic>

#include "core/status.h"
#include "tokenizer/byte_level.h"

namespace stepwise {
namespace {

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

uint64_t slot_of(uint64_t key) { return (key * 0x9E3779B97F4A7C15ull) >> 17; }

struct Symbol {
  int32_t id;
  int32_t prev, next;  // -1 at the ends
  uint32_t len;        // bytes; 0 once merged into its left neighbour
};

struct QueuedMerge {
  int32_t rank;
  int32_t pos;  // index of the left symbol
  int32_t id;
  // std::push_heap builds a max-heap: "less" means "merged later", i.e. higher rank, then further right.
  bool operator<(const QueuedMerge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

// Per-thread buffers so encoding a pre-token allocates nothing once warm.
struct MergeScratch {
  std::vector<Symbol> symbols;
  std::vector<QueuedMerge> queue;
};

// Words seen before, per thread and model: natural text repeats its words, and a hit skips the merge loop,
// whose merge-table lookups miss the cache. Bounded: it starts over when full.
class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 64;
  static constexpr size_t kMaxWords = 1 << 16;

  static std::unordered_map<std::string, std::vector<int32_t>>& for_model(uint64_t instance) {
    thread_local WordCache cache;
    if (cache.instance_ != instance) {  // one model per thread at a time is the common case
      cache.words_.clear();
      cache.instance_ = instance;
    }
    if (cache.words_.size() >= kMaxWords) cache.words_.clear();
    return cache.words_;
  }

 private:
  uint64_t instance_ = 0;
  std::unordered_map<std::string, std::vector<int32_t>> words_;
};

std::atomic<uint64_t> next_instance{1};

}  // namespace

ByteLevelBpe::ByteLevelBpe(const std::unordered_map<std::string, int32_t>& vocab,
                           const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges,
                           const std::string& file)
    : instance_(next_instance++) {
  for (const auto& [spelling, id] : vocab) {
    if (static_cast<size_t>(id) >= token_lengths_.size()) token_lengths_.resize(id + 1);
    token_lengths_[id] = static_cast<uint32_t>(byte_level_token_bytes(spelling).size());
  }
  for (int b = 0; b < 256; ++b) {
    const auto it = vocab.find(byte_level_spelling(std::string(1, static_cast<char>(b))));
    if (it == vocab.end())
      invalid_argument(file, ": model.vocab has no token for byte 0x", std::hex, b,
                       ": a byte-level BPE vocab must spell all 256 bytes (is this a byte-level tokenizer.json?)");
    byte_ids_[b] = it->second;
  }
  size_t capacity = 16;
  while (capacity < 2 * merges.size()) capacity *= 2;
  slots_.assign(capacity, Slot{kEmpty, Merge{0, 0}});
  slot_mask_ = capacity - 1;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const auto l = vocab.find(left), r = vocab.find(right), m = vocab.find(left + right);
    if (l == vocab.end() || r == vocab.end() || m == vocab.end())
      invalid_argument(file, ": model.merges[", rank, "] (\"", left, "\", \"", right, "\"): '",
                       l == vocab.end()   ? left
                       : r == vocab.end() ? right
                                          : left + right,
                       "' is not in model.vocab; the merges do not belong to this vocab");
    insert_merge(l->second, r->second, Merge{static_cast<int32_t>(rank), m->second});
  }
  if (ignore_merges)
    for (const auto& [spelling, id] : vocab) {
      std::string bytes = byte_level_token_bytes(spelling);
      if (byte_level_spelling(bytes) == spelling) whole_words_.emplace(std::move(bytes), id);  // a pre-token can be it
    }
}

const ByteLevelBpe::Merge* ByteLevelBpe::find_merge(int32_t left, int32_t right) const {
  const uint64_t key = pair_key(left, right);
  for (uint64_t i = slot_of(key) & slot_mask_;; i = (i + 1) & slot_mask_) {
    if (slots_[i].key == key) return &slots_[i].merge;
    if (slots_[i].key == kEmpty) return nullptr;
  }
}

void ByteLevelBpe::insert_merge(int32_t left, int32_t right, Merge m) {
  const uint64_t key = pair_key(left, right);
  uint64_t i = slot_of(key) & slot_mask_;
  while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & slot_mask_;
  slots_[i] = Slot{key, m};  // a repeated pair keeps its last rank, as tokenizers' HashMap collect does
}

void ByteLevelBpe::encode(std::string_view bytes, std::vector<int32_t>* ids, std::vector<uint32_t>* ends) const {
  if (bytes.empty()) return;
  const size_t first = ids->size();
  const auto whole = whole_words_.empty() ? whole_words_.end() : whole_words_.find(std::string(bytes));
  if (whole != whole_words_.end()) {
    ids->push_back(whole->second);
  } else if (bytes.size() > WordCache::kMaxWordBytes) {
    merge(bytes, ids);
  } else {
    auto& cache = WordCache::for_model(instance_);
    auto [it, added] = cache.try_emplace(std::string(bytes));
    if (added) merge(bytes, &it->second);
    ids->insert(ids->end(), it->second.begin(), it->second.end());
  }
  if (ends) {
    uint32_t end = 0;
    for (size_t k = first; k < ids->size(); ++k) ends->push_back(end += token_lengths_[(*ids)[k]]);
  }
}

void ByteLevelBpe::merge(std::string_view bytes, std::vector<int32_t>* ids) const {
  const size_t n = bytes.size();
  thread_local MergeScratch scratch;
  std::vector<Symbol>& sym = scratch.symbols;
  std::vector<QueuedMerge>& queue = scratch.queue;
  sym.resize(n);
  queue.clear();
  for (size_t i = 0; i < n; ++i)
    sym[i] = Symbol{byte_ids_[static_cast<uint8_t>(bytes[i])], static_cast<int32_t>(i) - 1,
                    i + 1 < n ? static_cast<int32_t>(i + 1) : -1, 1};
  for (size_t i = 0; i + 1 < n; ++i)
    if (const Merge* m = find_merge(sym[i].id, sym[i + 1].id))
      queue.push_back(QueuedMerge{m->rank, static_cast<int32_t>(i), m->id});
  std::make_heap(queue.begin(), queue.end());

  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end());
    const QueuedMerge top = queue.back();
    queue.pop_back();
    Symbol& cur = sym[top.pos];
    if (cur.len == 0 || cur.next < 0) continue;
    Symbol& right = sym[cur.next];
    const Merge* still = find_merge(cur.id, right.id);  // the pair may have changed since it was queued
    if (!still || still->id != top.id) continue;
    cur.id = top.id;
    cur.len += right.len;
    cur.next = right.next;
    right.len = 0;
    if (cur.next >= 0) sym[cur.next].prev = top.pos;
    if (cur.prev >= 0)
      if (const Merge* m = find_merge(sym[cur.prev].id, cur.id)) {
        queue.push_back(QueuedMerge{m->rank, cur.prev, m->id});
        std::push_heap(queue.begin(), queue.end());
      }
    if (cur.next >= 0)
      if (const Merge* m = find_merge(cur.id, sym[cur.next].id)) {
        queue.push_back(QueuedMerge{m->rank, top.pos, m->id});
        std::push_heap(queue.begin(), queue.end());
      }
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) ids->push_back(sym[i].id);
}

}  // namespace stepwise
