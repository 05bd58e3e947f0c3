// SftDataLoader: epochs of shuffled, packed rows dealt to data-parallel ranks.
#include "train/loader.h"

#include <numeric>

#include "core/status.h"
#include "io/hash.h"
#include "train/packing.h"

namespace stepwise {

nlohmann::json LoaderPosition::to_json() const {
  nlohmann::json rng = nlohmann::json::array();
  for (uint64_t w : epoch_rng) rng.push_back(hash_hex(w));
  return {{"epoch", epoch}, {"next_row", next_row}, {"epoch_rng", rng}};
}

LoaderPosition LoaderPosition::from_json(const nlohmann::json& j, const std::string& where) {
  LoaderPosition p;
  try {
    p.epoch = j.at("epoch").get<int64_t>();
    p.next_row = j.at("next_row").get<int64_t>();
    const auto& rng = j.at("epoch_rng");
    if (!rng.is_array() || rng.size() != p.epoch_rng.size()) invalid_argument(where, ": epoch_rng needs 4 words");
    for (size_t i = 0; i < p.epoch_rng.size(); ++i)
      p.epoch_rng[i] = parse_hash_hex(rng[i].get<std::string>(), where + ": epoch_rng");
  } catch (const nlohmann::json::exception& e) {
    fail(StatusCode::kDataLoss, where, ": malformed loader position (", e.what(), ")");
  }
  if (p.epoch < 0 || p.next_row < 0) fail(StatusCode::kDataLoss, where, ": negative loader position");
  return p;
}

SftDataLoader::SftDataLoader(const std::string& dataset_dir, const LoaderOptions& options)
    : dir_(dataset_dir), options_(options), shards_(open_token_dataset(dataset_dir)), rng_(options.seed) {
  SW_CHECK(options.row_length > 0 && options.rows_per_micro_batch > 0 && options.dp_size > 0 &&
               options.dp_rank >= 0 && options.dp_rank < options.dp_size,
           "loader options");
  for (size_t s = 0; s < shards_.size(); ++s) {
    vocab_bound_ = std::max(vocab_bound_, shards_[s]->vocab_bound());
    for (int64_t d = 0; d < shards_[s]->num_documents(); ++d) {
      const int64_t len = shards_[s]->document(d).length;
      if (len > options.row_length)
        invalid_argument("dataset ", dataset_dir, ": document ", d, " of ", shards_[s]->path(), " has ", len,
                         " tokens, more than batch.row_length ", options.row_length, "; raise row_length or ",
                         "re-run `stepwise data prepare` with --max-len ", options.row_length);
      doc_ref_.emplace_back(static_cast<int32_t>(s), d);
      doc_lengths_.push_back(len);
      num_tokens_ += len;
    }
  }
  if (doc_lengths_.empty()) invalid_argument("dataset ", dataset_dir, " has no documents");
  pos_.epoch_rng = rng_.state();
  begin_epoch();
}

void SftDataLoader::begin_epoch() {
  std::vector<int64_t> order(doc_lengths_.size());
  std::iota(order.begin(), order.end(), 0);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng_.below(i)]);
  rows_ = pack_best_fit_decreasing(doc_lengths_, order, options_.row_length);
  for (size_t i = rows_.size(); i > 1; --i) std::swap(rows_[i - 1], rows_[rng_.below(i)]);
}

int64_t SftDataLoader::steps_per_epoch(int64_t accum) const {
  return rows_per_epoch() / (options_.dp_size * accum * options_.rows_per_micro_batch);
}

TokenBatch SftDataLoader::make_batch(const std::vector<std::vector<int64_t>>& rows, int64_t first, int64_t count,
                                     int64_t stride) const {
  TokenBatch batch;
  std::vector<int32_t> tokens, labels;
  for (int64_t r = 0; r < count; ++r)
    for (int64_t d : rows[static_cast<size_t>(first + r * stride)]) {
      const auto& [shard, index] = doc_ref_[static_cast<size_t>(d)];
      const TokenShardReader::Document doc = shards_[static_cast<size_t>(shard)]->document(index);
      tokens.assign(doc.tokens, doc.tokens + doc.length);
      labels.resize(tokens.size());
      for (int64_t t = 0; t < doc.length; ++t) labels[t] = doc.loss_mask[t] ? doc.tokens[t] : kIgnoreTarget;
      batch.add_document(tokens, labels);
    }
  return batch;
}

std::vector<TokenBatch> SftDataLoader::next_step(int64_t accum) {
  const int64_t mb = options_.rows_per_micro_batch, dp = options_.dp_size;
  const int64_t rows_per_step = dp * accum * mb;
  if (rows_per_epoch() < rows_per_step)
    invalid_argument("dataset ", dir_, " packs into ", rows_per_epoch(), " rows of ", options_.row_length,
                     " tokens, fewer than one optimizer step needs (", rows_per_step, " = dp ", dp,
                     " x grad_accum_steps ", accum, " x micro_batch_rows ", mb, "); use a smaller batch or more data");
  if (pos_.next_row + rows_per_step > rows_per_epoch()) {
    ++pos_.epoch;
    pos_.next_row = 0;
    pos_.epoch_rng = rng_.state();
    begin_epoch();
  }
  std::vector<TokenBatch> out;
  for (int64_t m = 0; m < accum; ++m)
    out.push_back(make_batch(rows_, pos_.next_row + (m * dp + options_.dp_rank) * mb, mb, 1));
  pos_.next_row += rows_per_step;
  return out;
}

std::vector<TokenBatch> SftDataLoader::eval_batches(int64_t max_batches) const {
  std::vector<int64_t> order(doc_lengths_.size());
  std::iota(order.begin(), order.end(), 0);
  const auto rows = pack_best_fit_decreasing(doc_lengths_, order, options_.row_length);
  const int64_t dp = options_.dp_size, mine = (static_cast<int64_t>(rows.size()) - options_.dp_rank + dp - 1) / dp;
  std::vector<TokenBatch> out;
  for (int64_t first = 0; first < mine; first += options_.rows_per_micro_batch) {
    if (max_batches > 0 && static_cast<int64_t>(out.size()) == max_batches) break;
    const int64_t count = std::min(options_.rows_per_micro_batch, mine - first);
    out.push_back(make_batch(rows, options_.dp_rank + first * dp, count, dp));
  }
  return out;
}

void SftDataLoader::seek(const LoaderPosition& position) {
  rng_.set_state(position.epoch_rng);
  pos_ = position;
  begin_epoch();
  if (pos_.next_row > rows_per_epoch())
    fail(StatusCode::kDataLoss, "loader position row ", pos_.next_row, " is past the ", rows_per_epoch(),
         " rows of an epoch of ", dir_, ": was the checkpoint written for another dataset or row_length?");
}

}  // namespace stepwise
