// A model folder for tests that need text: a small random model with Qwen3's vocabulary (151,936) beside the real
// Qwen3 tokenizer's files (installed by scripts/setup.sh), made once per test process in its temporary directory
// and removed when the process exits (about 20 MB).
#pragma once

#include <string>

namespace stepwise::test {

const std::string& random_qwen3_vocab_model_dir();
std::string qwen3_tokenizer_files_dir();

}  // namespace stepwise::test
