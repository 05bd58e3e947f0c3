// Opening a Hugging Face model directory (config.json + safetensors weights) as a Qwen3Model.
#pragma once

#include <memory>
#include <string>

#include "model/qwen3.h"

namespace stepwise {

// Errors name the directory and what is missing (config.json, weights) before anything large is allocated.
std::unique_ptr<Qwen3Model> load_hf_model(const std::string& dir, const ModelOptions& options);

}  // namespace stepwise
