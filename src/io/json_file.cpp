// read_json_file: whole-file read and parse, errors naming the file and the parser's position.
#include "io/json_file.h"

#include <cerrno>
#include <fstream>
#include <sstream>

#include "io/os_error.h"

namespace stepwise {

nlohmann::json read_json_file(const std::string& path, StatusCode bad_json) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_os_error("cannot open", path, errno);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail_os_error("cannot read", path, errno);
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {  // syntax, and numbers out of range (406: "1e999")
    fail(bad_json, path, ": not valid JSON (", e.what(), ")");
  }
}

}  // namespace stepwise
