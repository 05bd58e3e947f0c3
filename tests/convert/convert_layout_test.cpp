// The flat layout conversion computes for ZeRO-1 optimizer slices, against the offsets of a model actually built
// (its gradient block, where AdamW's slices are cut), tied and untied, for flat-block multiples (TP > 1 layouts are
// checked end to end: a resumed ZeRO-1 run on a converted TP=2 checkpoint, convert_test.cpp); and region copies
// between a column split and a flat slice against a direct index computation.
#include <gtest/gtest.h>

#include <map>

#include "../train/train_test_util.h"
#include "convert/tensor_region.h"
#include "model/qwen3.h"

namespace stepwise {
namespace {

TEST(FlatLayout, MatchesTheModelsGradientBlock) {
  Qwen3Config c = train_test::tiny_config(/*vocab=*/515, /*hidden=*/64, /*layers=*/2);  // 515: padding varies
  for (bool tied : {true, false})
    for (int64_t multiple : {1, 3, 4}) {
      c.tie_word_embeddings = tied;
      ModelOptions o;
      o.flat_block_multiple = multiple;
      Qwen3Model model(c, o);
      const Qwen3FlatLayout layout = qwen3_flat_layout(c, 0, 1, multiple);
      ASSERT_EQ(layout.total, model.grad_block().numel()) << "multiple " << multiple;
      ASSERT_EQ(layout.entries.size(), model.parameters().size());
      for (size_t i = 0; i < layout.entries.size(); ++i) {
        const Parameter& p = model.parameters()[i];
        EXPECT_EQ(layout.entries[i].name, p.name);
        EXPECT_EQ(layout.entries[i].numel, p.grad.numel()) << p.name;
        const auto at = static_cast<const float*>(p.grad.data()) - static_cast<const float*>(model.grad_block().data());
        EXPECT_EQ(layout.entries[i].offset, at) << p.name << " tied " << tied << " multiple " << multiple;
      }
    }
}

TEST(TensorRegion, ColumnShardsIntoFlatSlices) {
  // A 5 x 7 tensor stored as two column shards (3 and 4 columns), read back as flat slices of a row shard.
  const int64_t R = 5, C = 7;
  std::vector<float> full(R * C);
  for (int64_t i = 0; i < R * C; ++i) full[static_cast<size_t>(i)] = static_cast<float>(i);
  std::vector<std::vector<float>> cols(2);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) cols[c < 3 ? 0 : 1].push_back(full[static_cast<size_t>(r * C + c)]);
  std::vector<SourcePiece> pieces;
  pieces.push_back({shard_region({R, C}, 1, 0, {R, 3}), reinterpret_cast<const SafetensorsFile*>(1),
                    reinterpret_cast<const uint8_t*>(cols[0].data()), StDType::kF32, "left"});
  pieces.push_back({shard_region({R, C}, 1, 3, {R, 4}), reinterpret_cast<const SafetensorsFile*>(1),
                    reinterpret_cast<const uint8_t*>(cols[1].data()), StDType::kF32, "right"});
  const TensorRegion rows = shard_region({R, C}, 0, 1, {3, C});  // rows 1..3
  for (int64_t begin : {0, 2, 9})
    for (int64_t end : {begin + 1, begin + 5, int64_t{21}}) {
      const TensorRegion want = flat_range(rows, begin, end);
      std::vector<float> got(static_cast<size_t>(end - begin), -1);
      std::vector<const SafetensorsFile*> touched;
      copy_region(pieces, want, 0, end - begin, got.data(), StDType::kF32, "t", touched);
      for (int64_t k = begin; k < end; ++k)
        EXPECT_EQ(got[static_cast<size_t>(k - begin)], full[static_cast<size_t>(C + k)]);
    }
  // An element no piece holds is refused.
  pieces.pop_back();
  std::vector<float> got(C);
  std::vector<const SafetensorsFile*> touched;
  EXPECT_THROW(copy_region(pieces, whole_region({R, C}), 0, C, got.data(), StDType::kF32, "t", touched), StatusError);
}

}  // namespace
}  // namespace stepwise
