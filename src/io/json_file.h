// Reading a JSON file (config.json, model.safetensors.index.json) with errors that name the file.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace stepwise {

// A missing or unreadable file fails as the system call did (NOT_FOUND, ...); text that is not JSON fails with
// `bad_json`: INVALID_ARGUMENT for a file a person wrote (a config), DATA_LOSS for one a program wrote.
nlohmann::json read_json_file(const std::string& path, StatusCode bad_json);

}  // namespace stepwise
