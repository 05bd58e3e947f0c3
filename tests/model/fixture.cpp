// Loading the Hugging Face fixtures, and the logit scale that carries a bound on the logits over to the loss.
#include "fixture.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace stepwise::testing {

Fixture Fixture::load(const std::string& name) {
  // STEPWISE_FIXTURES_DIR overrides the compiled-in path (the GPU host runs binaries built elsewhere).
  const char* env = std::getenv("STEPWISE_FIXTURES_DIR");
  const std::string dir = std::string(env ? env : STEPWISE_TEST_DATA_DIR "/fixtures") + "/" + name;
  Fixture f{dir, {}, SafetensorsCheckpoint::open(dir + "/reference.safetensors"), 0, 0, {}, {}};
  f.config = load_qwen3_config(f.dir + "/config.json");
  const Shape shape = f.ref.shape("input_ids");
  f.rows = shape[0];
  f.cols = shape[1];
  f.input_ids = f.ref.read_i64("input_ids");
  f.labels = f.ref.read_i64("labels");
  return f;
}

std::vector<int32_t> Fixture::row_tokens(int64_t r) const {
  return std::vector<int32_t>(input_ids.begin() + r * cols, input_ids.begin() + (r + 1) * cols);
}

std::vector<int32_t> Fixture::row_labels(int64_t r) const {
  return std::vector<int32_t>(labels.begin() + r * cols, labels.begin() + (r + 1) * cols);
}

double Fixture::logit_scale() const {
  double largest = 0;
  for (double x : ref_f64("logits")) largest = std::max(largest, std::fabs(x));
  return largest / ref_f64("loss")[0];
}

double logit_scale(Qwen3Model& model, const TokenBatch& batch, double loss) {
  double largest = 0;
  for (float x : model.forward_logits(batch).to_f32_vector()) largest = std::max(largest, std::fabs(double{x}));
  return largest / loss;
}

TokenBatch Fixture::packed_batch() const {
  TokenBatch b;
  for (int64_t r = 0; r < rows; ++r) b.add_document(row_tokens(r), row_labels(r));
  return b;
}

}  // namespace stepwise::testing
