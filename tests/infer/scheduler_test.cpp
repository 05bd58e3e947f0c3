// Scheduler: token budget and chunked prefill, decoding before prefilling, admission order, preemption of the
// newest sequence, block sharing between forks with copy on write, and blocks returned the moment a sequence ends.
#include <gtest/gtest.h>

#include <numeric>

#include "infer/scheduler.h"

namespace stepwise {
namespace {

std::vector<int32_t> ids(int n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 1);
  return v;
}

SchedulerOptions options(int64_t blocks, int64_t block_size, int64_t budget) {
  SchedulerOptions o;
  o.num_blocks = blocks;
  o.block_size = block_size;
  o.max_tokens_per_step = budget;
  return o;
}

TEST(Scheduler, LongPromptsArePrefilledInChunksWhileOthersDecode) {
  Scheduler s(options(64, 4, 16));
  s.add(1, 0, 1, ids(3));
  auto step = s.schedule();
  ASSERT_EQ(step.work.size(), 1u);
  EXPECT_TRUE(step.work[0].samples);
  s.append_token(1, 7);  // sequence 1 decodes from now on
  s.add(2, 0, 2, ids(40));
  for (int64_t start : {0, 15, 30}) {
    step = s.schedule();
    ASSERT_EQ(step.work.size(), 2u);
    EXPECT_EQ(step.work[0].id, 1u);  // the decoding sequence first, one token
    EXPECT_EQ(step.work[0].count, 1);
    EXPECT_EQ(step.work[1].id, 2u);
    EXPECT_EQ(step.work[1].start, start);
    EXPECT_EQ(step.work[1].count, std::min<int64_t>(15, 40 - start));  // the rest of the budget
    EXPECT_EQ(step.work[1].samples, start == 30);
    s.append_token(1, 7);
  }
  // The model's input: positions continue each sequence, slots follow its block table.
  const PagedStep in = s.make_step(step);
  EXPECT_EQ(in.cu_q, (std::vector<int32_t>{0, 1, 11}));
  EXPECT_EQ(in.positions[1], 30);
  EXPECT_EQ(in.seq_lens, (std::vector<int32_t>{6, 40}));
  EXPECT_EQ(in.logit_rows, (std::vector<int32_t>{0, 10}));
  const std::vector<int32_t>& b2 = s.blocks(2);
  EXPECT_EQ(in.slots[1], b2[30 / 4] * 4 + 30 % 4);
}

TEST(Scheduler, AdmitsByPriorityThenArrival) {
  Scheduler s(options(64, 4, 3));
  s.add(10, 1, 1, ids(1));
  s.add(11, 0, 2, ids(1));
  s.add(12, 0, 3, ids(1));
  s.add(13, 0, 4, ids(1));
  const auto step = s.schedule();
  ASSERT_EQ(step.work.size(), 3u);
  EXPECT_EQ(step.work[0].id, 11u);
  EXPECT_EQ(step.work[1].id, 12u);
  EXPECT_EQ(step.work[2].id, 13u);
  EXPECT_EQ(s.num_waiting(), 1);
}

TEST(Scheduler, RunningOutOfBlocksPreemptsTheNewestAndFreesItsBlocks) {
  Scheduler s(options(4, 4, 100));
  s.add(1, 0, 1, ids(4));
  s.add(2, 0, 2, ids(4));
  auto step = s.schedule();  // one block each, two to spare for their next tokens
  ASSERT_EQ(step.work.size(), 2u);
  s.append_token(1, 5);
  s.append_token(2, 5);
  step = s.schedule();  // each needs a second block: 4 in use
  EXPECT_EQ(step.work.size(), 2u);
  EXPECT_EQ(s.pool().num_free(), 0);
  for (int i = 0; i < 3; ++i) {
    s.append_token(1, 5);
    s.append_token(2, 5);
    EXPECT_EQ(s.schedule().work.size(), 2u);
  }
  s.append_token(1, 5);  // both now hold 8 tokens and need a third block
  s.append_token(2, 5);
  step = s.schedule();
  ASSERT_EQ(step.preempted, std::vector<uint64_t>{2});  // the newest
  ASSERT_EQ(step.work.size(), 1u);
  EXPECT_EQ(step.work[0].id, 1u);
  EXPECT_EQ(s.num_waiting(), 1);
  EXPECT_EQ(s.num_preemptions(), 1);
  EXPECT_TRUE(s.blocks(2).empty());
  s.remove(1);  // sequence 1 ends: sequence 2 is recomputed from its 9 tokens
  EXPECT_EQ(s.pool().num_free(), 4);
  step = s.schedule();
  ASSERT_EQ(step.work.size(), 1u);
  EXPECT_EQ(step.work[0].start, 0);
  EXPECT_EQ(step.work[0].count, 9);
  EXPECT_TRUE(step.work[0].samples);
}

TEST(Scheduler, ForksShareBlocksAndCopyTheOneTheyWrite) {
  Scheduler s(options(16, 4, 100));
  s.add(1, 0, 1, ids(10));  // blocks: 4 + 4 full, 2 of 4 in the third
  s.schedule();
  s.fork(1, 2);
  s.fork(1, 3);
  EXPECT_EQ(s.pool().num_used(), 3);
  EXPECT_EQ(s.blocks(2), s.blocks(1));
  for (uint64_t id : {1, 2, 3}) s.append_token(id, 9);
  const auto step = s.schedule();
  ASSERT_EQ(step.work.size(), 3u);
  // The first two write into the shared third block and copy it; the last is then its only holder.
  ASSERT_EQ(step.block_copies.size(), 2u);
  EXPECT_EQ(step.block_copies[0].first, s.blocks(3)[2]);
  EXPECT_EQ(s.blocks(1)[0], s.blocks(2)[0]);  // full blocks stay shared
  EXPECT_NE(s.blocks(1)[2], s.blocks(2)[2]);
  EXPECT_EQ(s.pool().num_used(), 5);
  for (uint64_t id : {1, 2, 3}) s.remove(id);
  EXPECT_EQ(s.pool().num_free(), 16);
}

TEST(Scheduler, NoAdmissionWithoutASpareBlockPerRunningSequence) {
  Scheduler s(options(3, 4, 100));
  s.add(1, 0, 1, ids(4));
  s.add(2, 0, 2, ids(8));
  auto step = s.schedule();
  // 1 takes a block; 2 needs two more and must leave one for 1's next token: not admitted yet.
  ASSERT_EQ(step.work.size(), 1u);
  EXPECT_EQ(s.num_waiting(), 1);
  s.remove(1);
  step = s.schedule();
  ASSERT_EQ(step.work.size(), 1u);
  EXPECT_EQ(step.work[0].id, 2u);
}

}  // namespace
}  // namespace stepwise
