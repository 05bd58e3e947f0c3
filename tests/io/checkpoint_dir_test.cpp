// Checkpoint shard layouts ("<dim> <start> <d0>x<d1>..." in a model shard's metadata): the round trip, and layouts
// that would place a shard outside its full tensor (a negative start once made HF export write before the tensor).
#include <gtest/gtest.h>

#include "io/checkpoint_dir.h"
#include "io_test_util.h"

namespace stepwise {
namespace {

using namespace io_test;

TEST(TensorShardInfo, RoundTrip) {
  for (const TensorShardInfo& info : {TensorShardInfo{-1, 0, {7}}, TensorShardInfo{0, 4, {8, 3}},
                                      TensorShardInfo{1, 0, {8, 3}}, TensorShardInfo{1, 3, {8, 3}}}) {
    const TensorShardInfo back = decode_tensor_shard_info(encode_tensor_shard_info(info), "here");
    EXPECT_EQ(back.dim, info.dim);
    EXPECT_EQ(back.start, info.start);
    EXPECT_EQ(back.full_shape, info.full_shape);
  }
}

TEST(TensorShardInfo, LayoutsOutsideTheFullTensorAreRefused) {
  for (const std::string text : {"0 -4 8x3", "1 4 8x3", "1 0 8", "-1 2 8x3", "0 0 8x-3", "2 0 8x3", "0 0 x"}) {
    SCOPED_TRACE(text);
    EXPECT_STATUS_ERROR(decode_tensor_shard_info(text, "ckpt/model-tp00.safetensors tensor w"),
                        StatusCode::kDataLoss, {"ckpt/model-tp00.safetensors tensor w", "'" + text + "'"});
  }
}

}  // namespace
}  // namespace stepwise
