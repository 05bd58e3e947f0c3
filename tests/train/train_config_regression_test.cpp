// Inputs the fuzzer found (tests/fuzz/fuzz_train_config) that parse_train_config must refuse with a StatusError.
#include <gtest/gtest.h>

#include "core/status.h"
#include "train/train_config.h"

namespace stepwise {
namespace {

// Disabled: a known finding in src/train/train_config.cpp, left to the engineer rewriting it. A key that is not a
// scalar reaches YAML::Node::as<std::string>() and escapes as YAML::TypedBadConversion, not a StatusError naming
// the file and line. Enable with the fix (and drop the matching catch in tests/fuzz/fuzz_train_config.cpp).
TEST(TrainConfigRegression, DISABLED_NonScalarKeyIsAStatusError) {
  for (const char* yaml : {"[a]: 1\n", "{a: b}: 1\n"}) {
    SCOPED_TRACE(yaml);
    try {
      parse_train_config(yaml, "fuzz.yaml");
      ADD_FAILURE() << "accepted";
    } catch (const StatusError& e) {
      EXPECT_EQ(e.code(), StatusCode::kInvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find("fuzz.yaml"), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a StatusError: " << e.what();
    }
  }
}

}  // namespace
}  // namespace stepwise
