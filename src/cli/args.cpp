// Flag parsing for the stepwise subcommands.
#include "cli/args.h"

#include <cstdlib>

#include "core/status.h"

namespace stepwise::cli {

Args::Args(int argc, char** argv, const std::set<std::string>& bool_flags) : command_(argc > 0 ? argv[0] : "") {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      positional_.push_back(a);
      continue;
    }
    a = a.substr(2);
    const size_t eq = a.find('=');
    if (eq != std::string::npos) {
      values_[a.substr(0, eq)] = a.substr(eq + 1);
    } else if (bool_flags.count(a)) {
      values_[a] = "true";
    } else {
      if (i + 1 >= argc) invalid_argument(command_, ": flag --", a, " needs a value");
      values_[a] = argv[++i];
    }
  }
}

std::optional<std::string> Args::get(const std::string& name) {
  read_.insert(name);
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::require(const std::string& name) {
  auto v = get(name);
  if (!v) invalid_argument(command_, ": missing required flag --", name, " (see `stepwise ", command_, " --help`)");
  return *v;
}

std::string Args::get_or(const std::string& name, const std::string& fallback) { return get(name).value_or(fallback); }

int64_t Args::get_int(const std::string& name, int64_t fallback) {
  auto v = get(name);
  if (!v) return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end) invalid_argument(command_, ": --", name, " expects an integer, got '", *v, "'");
  return x;
}

double Args::get_double(const std::string& name, double fallback) {
  auto v = get(name);
  if (!v) return fallback;
  char* end = nullptr;
  const double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end) invalid_argument(command_, ": --", name, " expects a number, got '", *v, "'");
  return x;
}

bool Args::flag(const std::string& name) {
  auto v = get(name);
  if (!v) return false;
  if (*v == "true" || *v == "1") return true;
  if (*v == "false" || *v == "0") return false;
  invalid_argument(command_, ": --", name, " expects true or false, got '", *v, "'");
}

void Args::finish() {
  for (const auto& [name, value] : values_)
    if (!read_.count(name)) invalid_argument(command_, ": unknown flag --", name, " (see `stepwise ", command_, " --help`)");
  if (!positional_.empty()) invalid_argument(command_, ": unexpected argument '", positional_.front(), "'");
}

std::vector<int32_t> parse_id_list(const std::string& flag, const std::string& text) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end || v < 0 || v > INT32_MAX)
      invalid_argument("--", flag, ": '", item, "' is not a token id (expected comma-separated non-negative integers)");
    ids.push_back(static_cast<int32_t>(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return ids;
}

}  // namespace stepwise::cli
