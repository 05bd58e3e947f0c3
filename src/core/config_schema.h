// Configuration structs described once. A config is a plain struct of sections (Megatron style); each field's type
// and default are its member declaration, and its key, allowed range and one-line doc are one entry of the struct's
// ConfigSchema. Everything else comes from that description: reading YAML with errors that name file:line and key
// (unknown keys and sections rejected by name, "--set section.key=value" overrides named as such), writing YAML that
// reads back to an equal struct, comparing two structs field by field, and the markdown field reference of the docs.
// The SFT config (train/train_config.cpp) is the first user; serving, job and conversion options follow the same
// pattern.
//
//   ConfigSchema<TrainConfig> s;
//   s.section("optimizer", "AdamW and the learning-rate schedule");
//   s.field("optimizer.beta2", &TrainConfig::optimizer, &OptimizerSection::adamw, &AdamWConfig::beta2)
//       .range(0, 0.999999999).doc("AdamW: decay of the second moment");
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/dtype.h"

namespace YAML {
class Node;
}

namespace stepwise {

// How a value of type T is read from a YAML scalar and written back. parse() returns nothing when the text is not a
// T; format() gives text that parse() reads back as the same value; type() names what is expected ("a number",
// "cpu or cuda", ...) for errors and docs. Specialisations below cover numbers, booleans, strings, Device and DType;
// a config defines its own for its enums and typed values (e.g. train_config.h's ModelInit).
template <class T, class Enable = void>
struct ConfigValue;

// Where each key was written, for errors raised after parsing (checks that span fields).
class ConfigLocator {
 public:
  // "cfg.yaml:12" for a key written in the file, "--set optimizer.lr" for an override, else the file name.
  std::string where(const std::string& key) const;

 private:
  friend class ConfigSchemaBase;
  std::string source_;
  std::set<std::string> overridden_;
  std::vector<std::pair<std::string, int>> lines_;  // key or section -> 1-based line
};

// One field as the docs and errors describe it.
struct ConfigFieldInfo {
  std::string key;           // "optimizer.beta2"
  std::string type;          // "a number", "an integer", "true or false", "cpu or cuda", ...
  std::string allowed;       // "[0, 0.999999999]", or empty
  std::string default_text;  // the default-constructed struct's value as YAML, or empty when required
  std::string doc;
  bool required = false;
};

// The type-independent part: sections, fields as type-erased accessors, YAML in and out, the reference table.
class ConfigSchemaBase {
 public:
  const std::vector<ConfigFieldInfo>& fields() const { return infos_; }
  // The markdown table of every field, grouped by section in declaration order (docs/sft.md embeds it).
  std::string markdown_reference() const;

 protected:
  struct Access {
    // Reads a present scalar into the config; false when the text is not of the field's type.
    std::function<bool(void* config, const YAML::Node& value)> read;
    std::function<std::string(const void* config)> write;
    std::function<bool(const void* a, const void* b)> equal;
    // Numeric fields: the value for the range check.
    std::function<double(const void* config)> number;
  };
  struct Range {
    double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    bool integral = false;
  };

  void add_section(const std::string& name, const std::string& doc);
  size_t add_field(ConfigFieldInfo info, Access access, bool integral);
  ConfigFieldInfo& info(size_t i) { return infos_[i]; }
  void set_range(size_t i, double lo, double hi);

  // Parses `yaml_text` (then applies "section.key=value" overrides) into `config`. Errors are INVALID_ARGUMENT.
  void parse_into(void* config, const std::string& yaml_text, const std::string& source,
                  const std::vector<std::string>& overrides, ConfigLocator* locator) const;
  std::string to_yaml(const void* config, const std::string& header) const;
  bool equal(const void* a, const void* b) const;
  std::string format_default(size_t i, const void* defaults) const { return accesses_[i].write(defaults); }

 private:
  std::vector<std::pair<std::string, std::string>> sections_;  // name, doc
  std::vector<ConfigFieldInfo> infos_;
  std::vector<Access> accesses_;
  std::vector<Range> ranges_;
};

namespace detail {
template <class Obj, class Member>
auto& follow(Obj& obj, Member member) {
  return obj.*member;
}
template <class Obj, class Member, class... Rest>
auto& follow(Obj& obj, Member member, Rest... rest) {
  return follow(obj.*member, rest...);
}
template <class M>
struct MemberType;
template <class C, class T>
struct MemberType<T C::*> {
  using type = T;
};
template <class... Ms>
using LastMemberType = typename MemberType<std::tuple_element_t<sizeof...(Ms) - 1, std::tuple<Ms...>>>::type;
}  // namespace detail

template <class Config>
class ConfigSchema : public ConfigSchemaBase {
 public:
  // Adjusts the field just declared.
  class Field {
   public:
    Field& doc(const std::string& text) {
      schema_.info(index_).doc = text;
      return *this;
    }
    Field& required() {
      schema_.info(index_).required = true;
      schema_.info(index_).default_text.clear();
      return *this;
    }
    Field& range(double lo, double hi) {  // closed
      schema_.set_range(index_, lo, hi);
      return *this;
    }
    Field& at_least(double lo) { return range(lo, std::numeric_limits<double>::infinity()); }

   private:
    friend class ConfigSchema;
    Field(ConfigSchema& schema, size_t index) : schema_(schema), index_(index) {}
    ConfigSchema& schema_;
    size_t index_;
  };

  // A section of the file ("run:", "optimizer:", ...); its fields are the keys "<section>.<name>" declared after it.
  void section(const std::string& name, const std::string& doc) { add_section(name, doc); }

  // The field `key` ("section.name") stored at config.*path[0].*path[1]...
  template <class... Path>
  Field field(const std::string& key, Path... path) {
    using T = detail::LastMemberType<Path...>;
    using V = ConfigValue<T>;
    Access a;
    a.read = [path...](void* c, const YAML::Node& n) {
      std::optional<T> v = V::parse(n);
      if (v) detail::follow(*static_cast<Config*>(c), path...) = std::move(*v);
      return v.has_value();
    };
    a.write = [path...](const void* c) { return V::format(detail::follow(*static_cast<const Config*>(c), path...)); };
    a.equal = [path...](const void* x, const void* y) {
      return detail::follow(*static_cast<const Config*>(x), path...) ==
             detail::follow(*static_cast<const Config*>(y), path...);
    };
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
      a.number = [path...](const void* c) {
        return static_cast<double>(detail::follow(*static_cast<const Config*>(c), path...));
      };
    ConfigFieldInfo info;
    info.key = key;
    info.type = V::type();
    const size_t i = add_field(std::move(info), std::move(a), std::is_integral_v<T>);
    const Config defaults{};
    this->info(i).default_text = format_default(i, &defaults);
    return Field(*this, i);
  }

  Config parse(const std::string& yaml_text, const std::string& source, const std::vector<std::string>& overrides = {},
               ConfigLocator* locator = nullptr) const {
    Config c{};
    parse_into(&c, yaml_text, source, overrides, locator);
    return c;
  }
  // Every field, in declaration order under its section, after a "# header" comment line.
  std::string to_yaml(const Config& c, const std::string& header) const {
    return ConfigSchemaBase::to_yaml(&c, header);
  }
  // Field by field, on the typed values.
  bool equal(const Config& a, const Config& b) const { return ConfigSchemaBase::equal(&a, &b); }
};

// --- Value types ---------------------------------------------------------------------------------------------

// The shortest decimal text that reads back as exactly v (through double, then T).
std::string format_shortest(double v, bool as_float);

// A YAML integer (fractions, overflow and unsigned values past INT64_MAX are not), and a finite number.
std::optional<int64_t> parse_integer(const YAML::Node& n);
std::optional<uint64_t> parse_unsigned(const YAML::Node& n);
std::optional<double> parse_number(const YAML::Node& n);

template <class T>
struct ConfigValue<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
  static std::optional<T> parse(const YAML::Node& n) {
    if constexpr (std::is_unsigned_v<T>) {
      const std::optional<uint64_t> v = parse_unsigned(n);
      if (!v || *v > std::numeric_limits<T>::max()) return std::nullopt;
      return static_cast<T>(*v);
    } else {
      const std::optional<int64_t> v = parse_integer(n);
      if (!v || *v < std::numeric_limits<T>::min() || *v > std::numeric_limits<T>::max()) return std::nullopt;
      return static_cast<T>(*v);
    }
  }
  static std::string format(T v) { return std::to_string(v); }
  static std::string type() { return "an integer"; }
};
template <class T>
struct ConfigValue<T, std::enable_if_t<std::is_floating_point_v<T>>> {
  static std::optional<T> parse(const YAML::Node& n) {
    const std::optional<double> v = parse_number(n);
    if (!v) return std::nullopt;
    return static_cast<T>(*v);
  }
  static std::string format(T v) { return format_shortest(v, std::is_same_v<T, float>); }
  static std::string type() { return "a number"; }
};
template <>
struct ConfigValue<bool> {
  static std::optional<bool> parse(const YAML::Node& n);
  static std::string format(bool v) { return v ? "true" : "false"; }
  static std::string type() { return "true or false"; }
};
template <>
struct ConfigValue<std::string> {
  static std::optional<std::string> parse(const YAML::Node& n);
  static std::string format(const std::string& v);  // quoted where YAML needs it
  static std::string type() { return "a string"; }
};
template <>
struct ConfigValue<Device> {
  static std::optional<Device> parse(const YAML::Node& n);
  static std::string format(Device v) { return device_name(v); }
  static std::string type() { return "cpu or cuda"; }
};
// Floating-point storage types, spelled as Hugging Face's torch_dtype.
template <>
struct ConfigValue<DType> {
  static std::optional<DType> parse(const YAML::Node& n);
  static std::string format(DType v);
  static std::string type() { return "float32, bfloat16 or float16"; }
};

// The scalar text of a YAML node (for value types defined elsewhere).
std::string scalar_text(const YAML::Node& n);

}  // namespace stepwise
