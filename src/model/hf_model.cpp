// Hugging Face directory -> Qwen3Model.
#include "model/hf_model.h"

#include <sys/stat.h>

#include "core/status.h"

namespace stepwise {

std::unique_ptr<Qwen3Model> load_hf_model(const std::string& dir, const ModelOptions& options) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    fail(StatusCode::kNotFound, "model directory '", dir, "' does not exist (expected a Hugging Face model folder ",
         "with config.json and *.safetensors)");
  const Qwen3Config config = load_qwen3_config(dir + "/config.json");
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(dir);
  auto model = std::make_unique<Qwen3Model>(config, options);
  model->load(ckpt);
  return model;
}

}  // namespace stepwise
