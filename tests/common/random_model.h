// A model folder for tests that need text: a small random model with Qwen3's vocabulary (151,936) beside the real
// Qwen3 tokenizer's files (installed by scripts/setup.sh), made once per test process in its temporary directory
// and removed when the process exits (about 20 MB).
#pragma once

#include <memory>
#include <string>

#include "model/qwen3.h"

namespace stepwise::test {

// Two layers, hidden size 32, Qwen3's 151,936-row vocabulary; weights drawn with std 0.5 (seed 11), large enough
// for confident, varied next tokens.
std::unique_ptr<Qwen3Model> random_qwen3_vocab_model();
// That model saved as a Hugging Face folder beside the tokenizer's files.
const std::string& random_qwen3_vocab_model_dir();
std::string qwen3_tokenizer_files_dir();

}  // namespace stepwise::test
