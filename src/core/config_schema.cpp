// Configuration schemas: YAML in and out, checks with file:line errors, the field reference (yaml-cpp).
#include "core/config_schema.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

#include "core/status.h"

namespace stepwise {

namespace {

const char* kind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    default: return "a scalar";
  }
}

std::string format_bound(double v, bool integral) {
  return integral ? std::to_string(static_cast<int64_t>(v)) : format_shortest(v, false);
}

std::string section_of(const std::string& key) { return key.substr(0, key.find('.')); }
std::string name_in_section(const std::string& key) { return key.substr(key.find('.') + 1); }

// Applies one "section.key=value" override (the value read as YAML) to the parsed tree.
void apply_override(YAML::Node& root, const std::string& text, std::set<std::string>& overridden) {
  const size_t eq = text.find('=');
  const std::string path = text.substr(0, eq);
  const size_t dot = path.find('.');
  if (eq == std::string::npos || dot == std::string::npos || path.find('.', dot + 1) != std::string::npos)
    invalid_argument("--set ", text, ": expected section.key=value (e.g. --set optimizer.lr=3e-4)");
  YAML::Node value;
  try {
    value = YAML::Load(text.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    invalid_argument("--set ", text, ": the value is not valid YAML (", e.msg, ")");
  }
  const std::string section = path.substr(0, dot), key = path.substr(dot + 1);
  if (!root[section].IsMap()) root[section] = YAML::Node(YAML::NodeType::Map);
  root[section][key] = value;
  overridden.insert(path);
}

}  // namespace

std::string ConfigLocator::where(const std::string& key) const {
  if (overridden_.count(key)) return "--set " + key;
  for (const auto& [k, line] : lines_)
    if (k == key) return source_ + ":" + std::to_string(line);
  // A key not written in the file (a default): its section's line, else the file.
  for (const auto& [k, line] : lines_)
    if (k == section_of(key)) return source_ + ":" + std::to_string(line);
  return source_;
}

void ConfigSchemaBase::add_section(const std::string& name, const std::string& doc) {
  sections_.emplace_back(name, doc);
}

size_t ConfigSchemaBase::add_field(ConfigFieldInfo info, Access access, bool integral) {
  SW_CHECK(!sections_.empty() && section_of(info.key) == sections_.back().first, "config field ", info.key,
           " declared outside its section");
  infos_.push_back(std::move(info));
  accesses_.push_back(std::move(access));
  Range r;
  r.integral = integral;
  ranges_.push_back(r);
  return infos_.size() - 1;
}

void ConfigSchemaBase::set_range(size_t i, double lo, double hi) {
  SW_CHECK(accesses_[i].number, "config field ", infos_[i].key, ": a range on a non-numeric field");
  ranges_[i].lo = lo;
  ranges_[i].hi = hi;
  const bool integral = ranges_[i].integral;
  infos_[i].allowed = "[" + format_bound(lo, integral) + ", " +
                      (std::isinf(hi) ? std::string("∞") : format_bound(hi, integral)) + "]";
}

void ConfigSchemaBase::parse_into(void* config, const std::string& yaml_text, const std::string& source,
                                  const std::vector<std::string>& overrides, ConfigLocator* out_locator) const {
  ConfigLocator loc;
  loc.source_ = source;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    invalid_argument(source, ":", e.mark.line + 1, ": not valid YAML: ", e.msg);
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  const auto section_names = [&] {
    std::string names;
    for (const auto& [name, doc] : sections_) names += (names.empty() ? "" : ", ") + name;
    return names;
  };
  if (!root.IsMap()) invalid_argument(source, ": the config must be a mapping of sections (", section_names(), ")");
  for (const std::string& o : overrides) apply_override(root, o, loc.overridden_);

  const auto line_of = [](const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : -1; };
  // Names are words: a list or mapping used as a key ("[a]: 1") is refused here, where its line is known.
  const auto name_of = [&](const YAML::Node& key, const char* what) {
    if (!key.IsScalar())
      invalid_argument(source, ":", line_of(key), ": a ", what, " name must be a word, got ", kind(key));
    return key.Scalar();
  };
  for (const auto& kv : root) {
    const std::string name = name_of(kv.first, "section");
    if (line_of(kv.first) > 0) loc.lines_.emplace_back(name, line_of(kv.first));
    bool known = false;
    for (const auto& [s, doc] : sections_) known |= s == name;
    if (!known) invalid_argument(loc.where(name), ": unknown section ", name, " (sections: ", section_names(), ")");
    const YAML::Node& section = kv.second;
    if (!section.IsNull() && !section.IsMap())
      invalid_argument(loc.where(name), ": ", name, " must be a mapping of keys, got ", kind(section));
    if (!section.IsMap()) continue;
    for (const auto& field : section) {
      const std::string key = name + "." + name_of(field.first, "key");
      if (line_of(field.second) > 0) loc.lines_.emplace_back(key, line_of(field.second));
      bool declared = false;
      for (const ConfigFieldInfo& f : infos_) declared |= f.key == key;
      if (declared) continue;
      std::string known_keys;
      for (const ConfigFieldInfo& f : infos_)
        if (section_of(f.key) == name) known_keys += (known_keys.empty() ? "" : ", ") + name_in_section(f.key);
      const std::string at = loc.overridden_.count(key) ? "--set " + key
                                                        : source + ":" + std::to_string(line_of(field.first));
      invalid_argument(at, ": unknown key ", key, " (", name, " has: ", known_keys, ")");
    }
  }

  for (size_t i = 0; i < infos_.size(); ++i) {
    const ConfigFieldInfo& f = infos_[i];
    const YAML::Node section = root[section_of(f.key)];
    const YAML::Node n = section.IsMap() ? section[name_in_section(f.key)] : YAML::Node();
    if (!n.IsDefined() || n.IsNull()) {
      if (f.required) invalid_argument(loc.where(section_of(f.key)), ": ", f.key, " is required");
      continue;
    }
    if (!n.IsScalar()) invalid_argument(loc.where(f.key), ": ", f.key, " must be a single value, got ", kind(n));
    if (!accesses_[i].read(config, n))
      invalid_argument(loc.where(f.key), ": ", f.key, " must be ", f.type, ", got '", n.Scalar(), "'");
    if (accesses_[i].number) {
      const double v = accesses_[i].number(config);
      if (v < ranges_[i].lo || v > ranges_[i].hi)
        invalid_argument(loc.where(f.key), ": ", f.key, " = ", n.Scalar(), " is out of range ", f.allowed);
    }
  }
  if (out_locator) *out_locator = std::move(loc);
}

std::string ConfigSchemaBase::to_yaml(const void* config, const std::string& header) const {
  std::ostringstream os;
  os << "# " << header << "\n";
  std::string section;
  for (size_t i = 0; i < infos_.size(); ++i) {
    if (section_of(infos_[i].key) != section) {
      section = section_of(infos_[i].key);
      os << section << ":\n";
    }
    os << "  " << name_in_section(infos_[i].key) << ": " << accesses_[i].write(config) << "\n";
  }
  return os.str();
}

bool ConfigSchemaBase::equal(const void* a, const void* b) const {
  for (const Access& acc : accesses_)
    if (!acc.equal(a, b)) return false;
  return true;
}

std::string ConfigSchemaBase::markdown_reference() const {
  std::ostringstream os;
  os << "| key | type | default | allowed | what it sets |\n| --- | --- | --- | --- | --- |\n";
  for (const auto& [section, doc] : sections_) {
    os << "| **`" << section << "`** | | | | " << doc << " |\n";
    for (const ConfigFieldInfo& f : infos_) {
      if (section_of(f.key) != section) continue;
      os << "| `" << f.key << "` | " << f.type << " | " << (f.required ? "required" : "`" + f.default_text + "`")
         << " | " << f.allowed << " | " << f.doc << " |\n";
    }
  }
  return os.str();
}

// --- Value types ---------------------------------------------------------------------------------------------

std::string scalar_text(const YAML::Node& n) { return n.Scalar(); }

std::string format_shortest(double v, bool as_float) {
  char buf[40];
  for (int p = 6; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, v);
    const double back = std::strtod(buf, nullptr);
    if (as_float ? static_cast<float>(back) == static_cast<float>(v) : back == v) break;
  }
  return buf;
}

std::optional<int64_t> parse_integer(const YAML::Node& n) {
  int64_t v = 0;
  if (!YAML::convert<int64_t>::decode(n, v)) return std::nullopt;
  return v;
}

std::optional<uint64_t> parse_unsigned(const YAML::Node& n) {
  // yaml-cpp reads "-1" as a uint64_t by wrapping around: refuse a sign first.
  if (n.Scalar().find('-') != std::string::npos) return std::nullopt;
  uint64_t v = 0;
  if (!YAML::convert<uint64_t>::decode(n, v)) return std::nullopt;
  return v;
}

std::optional<double> parse_number(const YAML::Node& n) {
  double v = 0;
  if (!YAML::convert<double>::decode(n, v) || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<bool> ConfigValue<bool>::parse(const YAML::Node& n) {
  bool v = false;
  if (!YAML::convert<bool>::decode(n, v)) return std::nullopt;
  return v;
}

std::optional<std::string> ConfigValue<std::string>::parse(const YAML::Node& n) { return n.Scalar(); }

std::string ConfigValue<std::string>::format(const std::string& v) {
  YAML::Emitter out;
  out << v;
  return out.c_str();
}

std::optional<Device> ConfigValue<Device>::parse(const YAML::Node& n) {
  if (n.Scalar() == "cpu") return Device::kCPU;
  if (n.Scalar() == "cuda") return Device::kCUDA;
  return std::nullopt;
}

std::optional<DType> ConfigValue<DType>::parse(const YAML::Node& n) {
  static const std::map<std::string, DType> names = {
      {"float32", DType::kF32}, {"bfloat16", DType::kBF16}, {"float16", DType::kF16}};
  const auto it = names.find(n.Scalar());
  if (it == names.end()) return std::nullopt;
  return it->second;
}

std::string ConfigValue<DType>::format(DType v) {
  switch (v) {
    case DType::kBF16: return "bfloat16";
    case DType::kF16: return "float16";
    default: return "float32";
  }
}

}  // namespace stepwise
