// The model presets compiled into the library: the text of each configs/models/<name>.json, embedded by
// src/io/CMakeLists.txt into a generated model_presets.cpp, so that a built binary needs no source tree.
#pragma once

#include <cstddef>

namespace stepwise {

struct ModelPreset {
  const char* name;  // the file name without .json, e.g. "qwen3-0.6b"
  const char* json;  // the file's contents
};

extern const ModelPreset kModelPresets[];
extern const size_t kNumModelPresets;

}  // namespace stepwise
