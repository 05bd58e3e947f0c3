// ConfigSchema on a small config of its own: nested members, ranges, required keys, typed values, unknown keys,
// YAML written back, and the shortest float text (the parts the SFT config's tests do not isolate).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/config_schema.h"
#include "core/status.h"

namespace stepwise {
namespace {

struct Inner {
  float rate = 0.5f;
  int8_t small = 1;
};
struct ToyConfig {
  struct Main {
    std::string name;
    uint64_t seed = 7;
    Device device = Device::kCPU;
    DType dtype = DType::kBF16;
    Inner inner;
  } main;
};

const ConfigSchema<ToyConfig>& toy_schema() {
  static const ConfigSchema<ToyConfig> s = [] {
    ConfigSchema<ToyConfig> s;
    s.section("main", "the only section");
    s.field("main.name", &ToyConfig::main, &ToyConfig::Main::name).required().doc("a name");
    s.field("main.seed", &ToyConfig::main, &ToyConfig::Main::seed).at_least(0).doc("a seed");
    s.field("main.device", &ToyConfig::main, &ToyConfig::Main::device).doc("where");
    s.field("main.dtype", &ToyConfig::main, &ToyConfig::Main::dtype).doc("storage type");
    s.field("main.rate", &ToyConfig::main, &ToyConfig::Main::inner, &Inner::rate).range(0, 1).doc("a rate");
    s.field("main.small", &ToyConfig::main, &ToyConfig::Main::inner, &Inner::small).range(-5, 5).doc("small");
    return s;
  }();
  return s;
}

std::string error_of(const std::string& yaml) {
  try {
    toy_schema().parse(yaml, "toy.yaml");
  } catch (const StatusError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ConfigSchema, ReadsNestedAndTypedFieldsAndKeepsDefaults) {
  const ToyConfig c = toy_schema().parse("main:\n  name: a\n  rate: 0.25\n  dtype: float16\n", "toy.yaml");
  EXPECT_EQ(c.main.name, "a");
  EXPECT_EQ(c.main.inner.rate, 0.25f);
  EXPECT_EQ(c.main.dtype, DType::kF16);
  EXPECT_EQ(c.main.seed, 7u);  // the struct's default
  EXPECT_EQ(c.main.inner.small, 1);
}

TEST(ConfigSchema, ErrorsNameTheLineAndTheKey) {
  EXPECT_EQ(error_of("main:\n  name: a\n  rate: 2\n"), "toy.yaml:3: main.rate = 2 is out of range [0, 1]");
  EXPECT_EQ(error_of("main:\n  name: a\n  seed: -1\n"), "toy.yaml:3: main.seed must be an integer, got '-1'");
  EXPECT_EQ(error_of("main:\n  name: a\n  small: 300\n"), "toy.yaml:3: main.small must be an integer, got '300'");
  EXPECT_EQ(error_of("main:\n  name: a\n  dtype: f32\n"),
            "toy.yaml:3: main.dtype must be float32, bfloat16 or float16, got 'f32'");
  EXPECT_EQ(error_of("main:\n  seed: 1\n"), "toy.yaml:1: main.name is required");
  EXPECT_EQ(error_of("main:\n  name: a\n  colour: red\n"),
            "toy.yaml:3: unknown key main.colour (main has: name, seed, device, dtype, rate, small)");
  EXPECT_EQ(error_of("other: 1\n"), "toy.yaml:1: unknown section other (sections: main)");
}

TEST(ConfigSchema, WrittenYamlReadsBackEqual) {
  ToyConfig c;
  c.main.name = "a: b # not a comment";
  c.main.seed = std::numeric_limits<uint64_t>::max();
  c.main.device = Device::kCUDA;
  c.main.inner.rate = 0.1f;
  const std::string yaml = toy_schema().to_yaml(c, "toy");
  const ToyConfig back = toy_schema().parse(yaml, "back.yaml");
  EXPECT_TRUE(toy_schema().equal(back, c)) << yaml;
  EXPECT_FALSE(toy_schema().equal(back, ToyConfig{}));
  EXPECT_NE(yaml.find("rate: 0.1\n"), std::string::npos) << yaml;  // the float's shortest text, not 0.100000001
}

TEST(ConfigSchema, ShortestTextReadsBackExactly) {
  for (double v : {0.1, 1.0 / 3.0, 1e-8, 6.02214076e23, 123456789.0, 5e-324})
    EXPECT_EQ(std::strtod(format_shortest(v, false).c_str(), nullptr), v) << format_shortest(v, false);
  for (float v : {0.1f, 0.95f, 1.0f / 3.0f, 1e-8f, 3.4e38f})
    EXPECT_EQ(static_cast<float>(std::strtod(format_shortest(v, true).c_str(), nullptr)), v);
  EXPECT_EQ(format_shortest(0.95f, true), "0.95");
}

}  // namespace
}  // namespace stepwise
