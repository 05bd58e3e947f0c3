// Inputs the fuzzer found (tests/fuzz/fuzz_train_config) that parse_train_config must refuse with a StatusError.
#include <gtest/gtest.h>

#include "core/status.h"
#include "train/train_config.h"

namespace stepwise {
namespace {

// A key that is not a scalar used to reach YAML::Node::as<std::string>() and escape as YAML::TypedBadConversion.
TEST(TrainConfigRegression, NonScalarKeyIsAStatusError) {
  for (const char* yaml : {"[a]: 1\n", "{a: b}: 1\n", "run:\n  [a]: 1\n"}) {
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
