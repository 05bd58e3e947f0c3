// The Hugging Face fixtures (tests/data/fixtures/qwen3-tiny-*): a model directory plus float64 references
// computed by transformers from exactly the saved weights.
#pragma once

#include <string>
#include <vector>

#include "io/hf_config.h"
#include "io/safetensors.h"
#include "model/batch.h"

namespace stepwise::testing {

struct Fixture {
  std::string dir;
  Qwen3Config config;
  SafetensorsCheckpoint ref;
  int64_t rows = 0, cols = 0;      // input_ids is [rows, cols]
  std::vector<int64_t> input_ids;  // row-major
  std::vector<int64_t> labels;     // -100 inside each row's prompt

  static Fixture load(const std::string& name);
  std::vector<int32_t> row_tokens(int64_t r) const;
  std::vector<int32_t> row_labels(int64_t r) const;
  TokenBatch packed_batch() const;  // every row a document of one packed batch
  std::vector<double> ref_f64(const std::string& name) const { return ref.read_f64(name); }
};

// max |a - b| / max |b| and ||a - b|| / ||b||.
double max_rel_error(const std::vector<float>& ours, const std::vector<double>& ref);
double norm_rel_error(const std::vector<float>& ours, const std::vector<double>& ref);

}  // namespace stepwise::testing
