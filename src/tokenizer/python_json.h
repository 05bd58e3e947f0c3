// Python's json.dumps(value, ensure_ascii=False): the `tojson` filter of Hugging Face chat templates, used by
// the Qwen3 template for tool signatures and tool-call arguments. Keys keep the order they were given in.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace stepwise {

// ", " and ": " separators, floats as Python's repr(), NaN/Infinity as Python writes them, only `"`, `\` and
// control characters escaped.
std::string python_json_dumps(const nlohmann::ordered_json& value);

}  // namespace stepwise
