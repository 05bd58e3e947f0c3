// Scheduler: continuous batching over a paged KV cache. Each step it picks, under a token budget, which sequences
// compute which of their tokens: every running sequence first (oldest first; one token when decoding, a chunk of its
// prompt when prefilling, so that long prompts never stall the decoding ones), then waiting sequences in order of
// (priority, arrival) while the budget, the sequence limit and the free blocks allow. When a running sequence needs
// a block and none is free, the newest running sequence is preempted: its blocks are freed at once and it waits
// again, keeping its tokens, to be recomputed (prefilled with its prompt and what it has generated) when there is
// room. The oldest sequence therefore always progresses, and a sequence that fits the pool alone always completes.
//
// Sequences of one request share its prompt's blocks (fork); a shared block is copied before a sequence writes
// into it (copy on write: only the last, partly filled block of a prompt is ever written again).
//
// The scheduler owns the token ids and block tables; the engine owns everything else about a sequence (sampling,
// text). It runs on TP rank 0 only: its decisions travel to the other ranks in the StepPlan.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "infer/kv_block_pool.h"
#include "model/batch.h"

namespace stepwise {

struct SchedulerOptions {
  int64_t num_blocks = 0;
  int64_t block_size = 16;
  int64_t max_tokens_per_step = 2048;  // the token budget of one step
  int64_t max_sequences = 256;         // running at once
  int64_t max_prefill_chunk = 0;       // the most prompt tokens of one sequence per step; 0: the budget
};

class Scheduler {
 public:
  explicit Scheduler(const SchedulerOptions& options);

  // A new sequence (its prompt), waiting. `arrival` orders sequences of equal priority (lower first).
  void add(uint64_t id, int64_t priority, uint64_t arrival, std::vector<int32_t> tokens);
  // `child` starts as a copy of running `parent` (its tokens and, shared, its blocks): the n samples of a request.
  void fork(uint64_t parent, uint64_t child);
  // A token the sequence sampled: computed by the sequence's next step.
  void append_token(uint64_t id, int32_t token);
  // The sequence ends (finished, cancelled, failed): its blocks are released now.
  void remove(uint64_t id);

  struct Work {
    uint64_t id;
    int64_t start = 0, count = 0;  // its tokens [start, start + count) are computed this step
    bool samples = false;          // the step ends at its last token: the next token is sampled from its logits
  };
  struct Schedule {
    std::vector<Work> work;
    std::vector<std::pair<int32_t, int32_t>> block_copies;  // (from, to): copy on write, before the step
    std::vector<uint64_t> preempted;
    bool empty() const { return work.empty(); }
  };
  // Decides the next step and commits it (blocks allocated, computed counts advanced): the caller runs it.
  Schedule schedule();
  // The model's input for a schedule.
  PagedStep make_step(const Schedule& schedule) const;

  bool contains(uint64_t id) const { return seqs_.count(id) != 0; }
  const std::vector<int32_t>& tokens(uint64_t id) const;
  const std::vector<int32_t>& blocks(uint64_t id) const;
  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  int64_t num_preemptions() const { return preemptions_; }
  const KvBlockPool& pool() const { return pool_; }
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Seq {
    int64_t priority = 0;
    uint64_t arrival = 0;
    std::vector<int32_t> tokens;
    int64_t computed = 0;  // tokens whose keys and values are in the cache
    std::vector<int32_t> blocks;
  };
  // The order of service: (priority, arrival, id).
  using Key = std::tuple<int64_t, uint64_t, uint64_t>;
  Key key(uint64_t id) const;
  Seq& seq(uint64_t id);
  const Seq& seq(uint64_t id) const;
  // Blocks this many more tokens need (a fresh block at each block boundary, one copy if the block written first is
  // shared).
  int64_t blocks_needed(const Seq& s, int64_t count) const;
  // Allocates them and records copies; the free blocks must suffice.
  void grow(Seq& s, int64_t count, Schedule& out);
  void release_blocks(Seq& s);
  void preempt(uint64_t id, Schedule& out);

  SchedulerOptions options_;
  KvBlockPool pool_;
  std::map<uint64_t, Seq> seqs_;
  std::set<Key> running_, waiting_;
  int64_t preemptions_ = 0;
};

}  // namespace stepwise
