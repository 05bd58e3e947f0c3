// Scheduler: the continuous-batching policy (scheduler.h) and its block bookkeeping.
#include "infer/scheduler.h"

#include <algorithm>

#include "core/status.h"

namespace stepwise {

Scheduler::Scheduler(const SchedulerOptions& options) : options_(options), pool_(options.num_blocks) {
  SW_CHECK(options.block_size > 0 && options.max_tokens_per_step > 0 && options.max_sequences > 0 &&
               options.max_prefill_chunk >= 0,
           "scheduler options: block_size ", options.block_size, ", max_tokens_per_step ",
           options.max_tokens_per_step, ", max_sequences ", options.max_sequences);
}

Scheduler::Key Scheduler::key(uint64_t id) const {
  const Seq& s = seq(id);
  return {s.priority, s.arrival, id};
}

Scheduler::Seq& Scheduler::seq(uint64_t id) {
  auto it = seqs_.find(id);
  SW_CHECK(it != seqs_.end(), "scheduler: no sequence ", id);
  return it->second;
}

const Scheduler::Seq& Scheduler::seq(uint64_t id) const {
  auto it = seqs_.find(id);
  SW_CHECK(it != seqs_.end(), "scheduler: no sequence ", id);
  return it->second;
}

const std::vector<int32_t>& Scheduler::tokens(uint64_t id) const { return seq(id).tokens; }
const std::vector<int32_t>& Scheduler::blocks(uint64_t id) const { return seq(id).blocks; }

void Scheduler::add(uint64_t id, int64_t priority, uint64_t arrival, std::vector<int32_t> tokens) {
  SW_CHECK(!seqs_.count(id) && !tokens.empty(), "scheduler: add sequence ", id);
  Seq s;
  s.priority = priority;
  s.arrival = arrival;
  s.tokens = std::move(tokens);
  seqs_.emplace(id, std::move(s));
  waiting_.insert(key(id));
}

void Scheduler::fork(uint64_t parent, uint64_t child) {
  SW_CHECK(running_.count(key(parent)) && !seqs_.count(child), "scheduler: fork ", parent, " -> ", child);
  Seq copy = seq(parent);
  for (int32_t b : copy.blocks) pool_.retain(b);
  seqs_.emplace(child, std::move(copy));
  running_.insert(key(child));
}

void Scheduler::append_token(uint64_t id, int32_t token) { seq(id).tokens.push_back(token); }

void Scheduler::release_blocks(Seq& s) {
  for (int32_t b : s.blocks) pool_.release(b);
  s.blocks.clear();
  s.computed = 0;
}

void Scheduler::remove(uint64_t id) {
  const Key k = key(id);
  release_blocks(seq(id));
  running_.erase(k);
  waiting_.erase(k);
  seqs_.erase(id);
}

int64_t Scheduler::blocks_needed(const Seq& s, int64_t count) const {
  const int64_t have = static_cast<int64_t>(s.blocks.size()), first = s.computed / options_.block_size;
  const bool copy = first < have && pool_.holders(s.blocks[first]) > 1;
  return std::max<int64_t>(0, blocks_for(s.computed + count, options_.block_size) - have) + (copy ? 1 : 0);
}

void Scheduler::grow(Seq& s, int64_t count, Schedule& out) {
  const int64_t first = s.computed / options_.block_size;
  if (first < static_cast<int64_t>(s.blocks.size()) && pool_.holders(s.blocks[first]) > 1) {
    const int32_t own = *pool_.allocate();
    out.block_copies.emplace_back(s.blocks[first], own);
    pool_.release(s.blocks[first]);
    s.blocks[first] = own;
  }
  while (static_cast<int64_t>(s.blocks.size()) < blocks_for(s.computed + count, options_.block_size))
    s.blocks.push_back(*pool_.allocate());
}

void Scheduler::preempt(uint64_t id, Schedule& out) {
  const Key k = key(id);
  release_blocks(seq(id));
  running_.erase(k);
  waiting_.insert(k);
  out.preempted.push_back(id);
  ++preemptions_;
}

Scheduler::Schedule Scheduler::schedule() {
  Schedule out;
  int64_t budget = options_.max_tokens_per_step;
  const int64_t chunk = options_.max_prefill_chunk > 0 ? options_.max_prefill_chunk : budget;
  auto take = [&](uint64_t id) {
    Seq& s = seq(id);
    const int64_t count = std::min({static_cast<int64_t>(s.tokens.size()) - s.computed, budget, chunk});
    grow(s, count, out);
    out.work.push_back({id, s.computed, count, s.computed + count == static_cast<int64_t>(s.tokens.size())});
    s.computed += count;
    budget -= count;
  };
  auto wanted = [&](const Seq& s) {
    return std::min({static_cast<int64_t>(s.tokens.size()) - s.computed, budget, chunk});
  };

  // Running sequences, oldest first. Every sequence after the current one is still unscheduled, so the newest
  // running sequence is always a valid victim (possibly the current one itself).
  const std::vector<Key> order(running_.begin(), running_.end());
  for (const Key& k : order) {
    if (budget == 0) break;
    if (!running_.count(k)) continue;  // preempted for an older sequence in this step
    const uint64_t id = std::get<2>(k);
    SW_CHECK(wanted(seq(id)) > 0, "scheduler: running sequence ", id, " has no token to compute");
    while (running_.count(k) && blocks_needed(seq(id), wanted(seq(id))) > pool_.num_free())
      preempt(std::get<2>(*running_.rbegin()), out);
    if (running_.count(k)) take(id);
  }

  // Waiting sequences by (priority, arrival), without preempting anyone: admitted while they fit with a block
  // to spare for each running sequence (each may cross a block boundary in the next step). None after a preemption
  // in this step: the pool is short, and the newcomer would only be preempted next.
  while (out.preempted.empty() && budget > 0 && !waiting_.empty() && num_running() < options_.max_sequences) {
    const Key k = *waiting_.begin();
    const uint64_t id = std::get<2>(k);
    if (blocks_needed(seq(id), wanted(seq(id))) + num_running() > pool_.num_free()) break;
    waiting_.erase(k);
    running_.insert(k);
    take(id);
  }
  return out;
}

PagedStep Scheduler::make_step(const Schedule& schedule) const {
  PagedStep step;
  for (const Work& w : schedule.work)
    step.max_blocks = std::max<int64_t>(step.max_blocks, static_cast<int64_t>(seq(w.id).blocks.size()));
  const int64_t bs = options_.block_size;
  for (const Work& w : schedule.work) {
    const Seq& s = seq(w.id);
    for (int64_t p = w.start; p < w.start + w.count; ++p) {
      step.tokens.push_back(s.tokens[p]);
      step.positions.push_back(static_cast<int32_t>(p));
      step.slots.push_back(static_cast<int32_t>(s.blocks[p / bs] * bs + p % bs));
    }
    step.cu_q.push_back(static_cast<int32_t>(step.tokens.size()));
    step.seq_lens.push_back(static_cast<int32_t>(w.start + w.count));
    std::vector<int32_t> row(s.blocks);
    row.resize(static_cast<size_t>(step.max_blocks), 0);
    step.block_tables.insert(step.block_tables.end(), row.begin(), row.end());
    if (w.samples) step.logit_rows.push_back(static_cast<int32_t>(step.tokens.size()) - 1);
  }
  return step;
}

}  // namespace stepwise
