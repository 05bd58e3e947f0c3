// The SFT data loader: a token dataset (io/token_shards.h, memory-mapped) packed into rows of `row_length` tokens
// (best-fit decreasing, train/packing.h), positions restarting per document and attention kept inside each
// document (model/batch.h). Each epoch draws a new document order and row order from the loader's generator
// (seeded by the run's seed), so the stream is deterministic; rows are dealt to data-parallel ranks. The position
// (epoch, next row, generator state at the epoch's start) goes into checkpoints, and seek() restores it exactly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rng.h"
#include "io/token_shards.h"
#include "model/batch.h"

namespace stepwise {

struct LoaderOptions {
  int64_t row_length = 0;
  int64_t rows_per_micro_batch = 1;
  int dp_rank = 0, dp_size = 1;
  uint64_t seed = 0;
};

struct LoaderPosition {
  int64_t epoch = 0;     // epochs begun before the current one
  int64_t next_row = 0;  // rows of the current epoch already dealt (to all DP ranks)
  Rng::State epoch_rng{};  // the generator's state before it drew the current epoch's order

  nlohmann::json to_json() const;
  static LoaderPosition from_json(const nlohmann::json& j, const std::string& where);
};

class SftDataLoader {
 public:
  // Errors name the dataset: a document longer than row_length (re-prepare with --max-len or raise row_length).
  SftDataLoader(const std::string& dataset_dir, const LoaderOptions& options);

  // This rank's `accum` micro-batches of the next optimizer step. Rows left at the end of an epoch that cannot
  // fill a whole step on every rank are dropped, and the next epoch begins.
  std::vector<TokenBatch> next_step(int64_t accum);
  // Every document once in a fixed order (no shuffle): this rank's micro-batches, at most max_batches (0: all).
  std::vector<TokenBatch> eval_batches(int64_t max_batches) const;

  int64_t rows_per_epoch() const { return static_cast<int64_t>(rows_.size()); }
  int64_t steps_per_epoch(int64_t accum) const;  // optimizer steps per epoch over all DP ranks
  int64_t num_documents() const { return static_cast<int64_t>(doc_lengths_.size()); }
  int64_t num_tokens() const { return num_tokens_; }
  int32_t vocab_bound() const { return vocab_bound_; }
  const std::string& dir() const { return dir_; }

  const LoaderPosition& position() const { return pos_; }
  void seek(const LoaderPosition& position);

 private:
  void begin_epoch();  // draws the document and row order of epoch pos_.epoch from rng_
  TokenBatch make_batch(const std::vector<std::vector<int64_t>>& rows, int64_t first, int64_t count,
                        int64_t stride) const;

  std::string dir_;
  LoaderOptions options_;
  std::vector<std::unique_ptr<TokenShardReader>> shards_;
  std::vector<std::pair<int32_t, int64_t>> doc_ref_;  // document -> (shard, index in the shard)
  std::vector<int64_t> doc_lengths_;
  int64_t num_tokens_ = 0;
  int32_t vocab_bound_ = 0;
  Rng rng_;
  LoaderPosition pos_;
  std::vector<std::vector<int64_t>> rows_;  // the current epoch's rows, in dealing order
};

}  // namespace stepwise
