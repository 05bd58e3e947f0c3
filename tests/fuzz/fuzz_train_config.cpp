// Fuzz target: the YAML SFT config through parse_train_config (its only entry point used here: the parser's
// internals are free to change). The input is the YAML text, optionally followed by a NUL byte and "--set"
// overrides, one per line.
#include <algorithm>

#include "fuzz_util.h"
#include "train/train_config.h"

using namespace stepwise;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input = fuzz::as_string(data, size);
  const size_t nul = input.find('\0');
  const std::string yaml = input.substr(0, nul);
  std::vector<std::string> overrides;
  for (size_t begin = nul == std::string::npos ? input.size() + 1 : nul + 1; begin <= input.size();) {
    const size_t end = std::min(input.find('\n', begin), input.size());
    overrides.push_back(input.substr(begin, end - begin));
    begin = end + 1;
  }
  fuzz::refusing_with_status_errors([&] {
    parse_train_config(yaml, "fuzz.yaml", overrides);
  });
  return 0;
}
