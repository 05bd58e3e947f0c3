// Command-line flags of a subcommand: `--name value`, `--name=value` and boolean `--name`.
// Every flag a subcommand reads is declared by reading it; finish() rejects the rest by name, so a typo
// is an error rather than a silently ignored option.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace stepwise::cli {

class Args {
 public:
  // argv[0] is the subcommand's name; `bool_flags` take no value.
  Args(int argc, char** argv, const std::set<std::string>& bool_flags = {});

  std::optional<std::string> get(const std::string& name);
  std::string require(const std::string& name);  // error when missing
  std::string get_or(const std::string& name, const std::string& fallback);
  int64_t get_int(const std::string& name, int64_t fallback);
  double get_double(const std::string& name, double fallback);
  bool flag(const std::string& name);  // a boolean flag
  const std::vector<std::string>& positional() const { return positional_; }
  void finish();  // errors on any flag not read

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
  std::set<std::string> read_;
  std::vector<std::string> positional_;
};

// Parses "1,2,3" into ids; names the flag and the bad element on error.
std::vector<int32_t> parse_id_list(const std::string& flag, const std::string& text);

}  // namespace stepwise::cli
