// Packing (best-fit decreasing) and the loader: capacity, every document once per epoch, determinism from the
// seed, data-parallel ranks splitting exactly what one rank would see, and seek() restoring the stream.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>

#include "core/status.h"
#include "train/loader.h"
#include "train/packing.h"
#include "train_test_util.h"

namespace stepwise::train_test {
namespace {

TEST(Packing, BestFitDecreasingOnAKnownInstance) {
  // Longest first: 7 opens row 0 (3 free), 6 row 1 (4 free), 5 row 2 (5 free); 4 fits row 1 exactly, 3 fits
  // row 0 exactly; 2 and then 1 go to row 2, the only one with room.
  const std::vector<int64_t> lengths = {3, 7, 1, 5, 2, 6, 4};
  std::vector<int64_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  const auto rows = pack_best_fit_decreasing(lengths, order, 10);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(rows[1], (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(rows[2], (std::vector<int64_t>{3, 4, 2}));
}

TEST(Packing, EveryDocumentOnceWithinCapacity) {
  Rng rng(3);
  std::vector<int64_t> lengths(500);
  for (auto& l : lengths) l = 1 + static_cast<int64_t>(rng.below(100));
  std::vector<int64_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  const auto rows = pack_best_fit_decreasing(lengths, order, 128);
  std::vector<int> seen(lengths.size(), 0);
  int64_t total = 0;
  for (const auto& row : rows) {
    int64_t used = 0;
    for (int64_t d : row) {
      used += lengths[d];
      ++seen[d];
    }
    EXPECT_LE(used, 128);
    total += used;
  }
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
  // Best-fit decreasing is within 11/9 OPT + 1 rows; OPT >= total / capacity.
  EXPECT_LE(static_cast<double>(rows.size()), 11.0 / 9.0 * std::ceil(total / 128.0) + 1);
}

// Each batch as its documents' token sequences (documents identify themselves by their tokens).
std::vector<std::vector<int32_t>> documents_of(const TokenBatch& b) {
  std::vector<std::vector<int32_t>> docs;
  for (int64_t d = 0; d < b.num_documents(); ++d)
    docs.emplace_back(b.tokens.begin() + b.cu_seqlens[d], b.tokens.begin() + b.cu_seqlens[d + 1]);
  return docs;
}

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fresh_test_dir("loader");
    write_random_dataset(dir_, 60, 5, 40, 50, 11);
  }
  LoaderOptions options(int rank = 0, int size = 1, uint64_t seed = 5) const {
    LoaderOptions o;
    o.row_length = 64;
    o.rows_per_micro_batch = 2;
    o.dp_rank = rank;
    o.dp_size = size;
    o.seed = seed;
    return o;
  }
  std::string dir_;
};

TEST_F(LoaderTest, BatchesFollowTheDocumentLayoutAndMask) {
  SftDataLoader loader(dir_, options());
  const auto shards = open_token_dataset(dir_);
  std::map<std::vector<int32_t>, std::vector<uint8_t>> masks;
  for (const auto& s : shards)
    for (int64_t d = 0; d < s->num_documents(); ++d) {
      const auto doc = s->document(d);
      masks[std::vector<int32_t>(doc.tokens, doc.tokens + doc.length)] =
          std::vector<uint8_t>(doc.loss_mask, doc.loss_mask + doc.length);
    }
  for (const TokenBatch& b : loader.next_step(3)) {
    for (int64_t d = 0; d < b.num_documents(); ++d) {
      const int32_t begin = b.cu_seqlens[d], end = b.cu_seqlens[d + 1];
      const std::vector<int32_t> tokens(b.tokens.begin() + begin, b.tokens.begin() + end);
      ASSERT_TRUE(masks.count(tokens));
      const std::vector<uint8_t>& mask = masks[tokens];
      for (int32_t t = begin; t < end; ++t) {
        EXPECT_EQ(b.positions[t], t - begin);  // positions restart per document
        const bool last = t + 1 == end;
        // the target at t is token t+1 when that token is trained on; never across the document's end
        EXPECT_EQ(b.targets[t], !last && mask[t + 1 - begin] ? b.tokens[t + 1] : kIgnoreTarget);
      }
    }
  }
}

// One epoch deals each packed row once. With one row per step none is left over, so every document of the dataset
// is seen exactly once; with two rows per step a last row that cannot fill a step is dropped, so every document is
// seen at most once and the unseen ones fit in the dropped rows.
TEST_F(LoaderTest, OneEpochSeesEveryDocumentOnce) {
  std::map<std::vector<int32_t>, int> dataset;  // every document, identified by its tokens
  for (const auto& shard : open_token_dataset(dir_))
    for (int64_t d = 0; d < shard->num_documents(); ++d) {
      const auto doc = shard->document(d);
      dataset[std::vector<int32_t>(doc.tokens, doc.tokens + doc.length)] = 0;
    }
  ASSERT_EQ(dataset.size(), 60u);  // distinct, so tokens identify them
  for (int64_t rows_per_step : {1, 2}) {
    SCOPED_TRACE("rows per step " + std::to_string(rows_per_step));
    LoaderOptions o = options();
    o.rows_per_micro_batch = rows_per_step;
    SftDataLoader loader(dir_, o);
    std::map<std::vector<int32_t>, int> seen = dataset;
    const int64_t steps = loader.steps_per_epoch(1);
    for (int64_t s = 0; s < steps; ++s)
      for (const TokenBatch& b : loader.next_step(1))
        for (auto& d : documents_of(b)) {
          ASSERT_TRUE(seen.count(d)) << "a document that is not in the dataset";
          ++seen[d];
        }
    EXPECT_EQ(loader.position().epoch, 0);
    const int64_t dropped_rows = loader.rows_per_epoch() - steps * rows_per_step;
    EXPECT_LT(dropped_rows, rows_per_step);
    int64_t unseen_tokens = 0;
    for (const auto& [doc, n] : seen) {
      EXPECT_LE(n, 1);
      if (n == 0) unseen_tokens += static_cast<int64_t>(doc.size());
      if (rows_per_step == 1) {
        EXPECT_EQ(n, 1) << "a document of " << doc.size() << " tokens was not seen";
      }
    }
    EXPECT_LE(unseen_tokens, dropped_rows * o.row_length);
    loader.next_step(1);
    EXPECT_EQ(loader.position().epoch, 1);
  }
}

TEST_F(LoaderTest, SameSeedSameStreamOtherSeedOtherOrder) {
  SftDataLoader a(dir_, options()), b(dir_, options()), c(dir_, options(0, 1, 6));
  bool differs = false;
  for (int s = 0; s < 12; ++s) {  // across an epoch boundary
    const auto ba = a.next_step(2), bb = b.next_step(2), bc = c.next_step(2);
    for (size_t m = 0; m < ba.size(); ++m) {
      EXPECT_EQ(ba[m].tokens, bb[m].tokens);
      EXPECT_EQ(ba[m].targets, bb[m].targets);
      differs |= ba[m].tokens != bc[m].tokens;
    }
  }
  EXPECT_TRUE(differs);
}

TEST_F(LoaderTest, DataParallelRanksSplitTheRowsOfOneRank) {
  // dp=2 with accumulation 1 deals, at each step, the same rows that dp=1 with accumulation 2 does.
  SftDataLoader one(dir_, options()), r0(dir_, options(0, 2)), r1(dir_, options(1, 2));
  EXPECT_EQ(one.steps_per_epoch(2), r0.steps_per_epoch(1));
  for (int s = 0; s < 10; ++s) {
    const auto all = one.next_step(2), a = r0.next_step(1), b = r1.next_step(1);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].tokens, a[0].tokens) << "step " << s;
    EXPECT_EQ(all[1].tokens, b[0].tokens) << "step " << s;
  }
}

TEST_F(LoaderTest, SeekRestoresTheStreamExactly) {
  SftDataLoader a(dir_, options());
  for (int s = 0; s < 7; ++s) a.next_step(2);
  const LoaderPosition saved = LoaderPosition::from_json(a.position().to_json(), "test");
  SftDataLoader b(dir_, options());
  b.seek(saved);
  for (int s = 0; s < 10; ++s) {  // continues across the next epoch boundary
    const auto ba = a.next_step(2), bb = b.next_step(2);
    for (size_t m = 0; m < ba.size(); ++m) EXPECT_EQ(ba[m].tokens, bb[m].tokens) << "step " << s;
  }
}

TEST_F(LoaderTest, EvalBatchesCoverEveryDocumentOnceAcrossRanks) {
  std::map<std::vector<int32_t>, int> seen;
  for (int rank = 0; rank < 3; ++rank) {
    SftDataLoader l(dir_, options(rank, 3));
    for (const TokenBatch& b : l.eval_batches(0))
      for (auto& d : documents_of(b)) ++seen[d];
  }
  EXPECT_EQ(seen.size(), 60u);
  for (const auto& [doc, n] : seen) EXPECT_EQ(n, 1);
}

TEST_F(LoaderTest, DocumentLongerThanARowIsAClearError) {
  LoaderOptions o = options();
  o.row_length = 16;
  try {
    SftDataLoader l(dir_, o);
    FAIL();
  } catch (const StatusError& e) {
    EXPECT_NE(std::string(e.what()).find("--max-len 16"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stepwise::train_test
