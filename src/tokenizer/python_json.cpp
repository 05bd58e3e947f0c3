// json.dumps as CPython writes it (Lib/json/encoder.py with ensure_ascii=False; float repr from
// Python/pystrtod.c: shortest round-trip digits, exponent form when the decimal point is below 1e-4 or at 1e16).
#include "tokenizer/python_json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace stepwise {
namespace {

void dump_string(const std::string& s, std::string* out) {
  out->push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      case '\b': *out += "\\b"; break;
      case '\f': *out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
          *out += buf;
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void dump_float(double x, std::string* out) {
  if (std::isnan(x)) return void(*out += "NaN");
  if (std::isinf(x)) return void(*out += x < 0 ? "-Infinity" : "Infinity");
  char buf[32];
  for (int precision = 0; precision < 17; ++precision) {  // the fewest digits that read back as x
    std::snprintf(buf, sizeof(buf), "%.*e", precision, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  // buf is "[-]d.ddde[+-]xx": split into sign, digits and the decimal point's position.
  std::string s = buf, digits;
  const size_t e = s.find('e');
  const int exponent = std::atoi(s.c_str() + e + 1);
  for (size_t i = 0; i < e; ++i)
    if (s[i] >= '0' && s[i] <= '9') digits.push_back(s[i]);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (s[0] == '-') out->push_back('-');
  const int point = exponent + 1;  // x = 0.digits * 10^point
  const int n = static_cast<int>(digits.size());
  if (point > -4 && point <= 16) {
    if (point <= 0) {
      *out += "0." + std::string(-point, '0') + digits;
    } else if (point >= n) {
      *out += digits + std::string(point - n, '0') + ".0";
    } else {
      *out += digits.substr(0, point) + "." + digits.substr(point);
    }
  } else {
    *out += digits.substr(0, 1);
    if (n > 1) *out += "." + digits.substr(1);
    std::snprintf(buf, sizeof(buf), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    *out += buf;
  }
}

void dump(const nlohmann::ordered_json& v, std::string* out) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: *out += "null"; break;
    case nlohmann::json::value_t::boolean: *out += v.get<bool>() ? "true" : "false"; break;
    case nlohmann::json::value_t::number_integer: *out += std::to_string(v.get<int64_t>()); break;
    case nlohmann::json::value_t::number_unsigned: *out += std::to_string(v.get<uint64_t>()); break;
    case nlohmann::json::value_t::number_float: dump_float(v.get<double>(), out); break;
    case nlohmann::json::value_t::string: dump_string(v.get_ref<const std::string&>(), out); break;
    case nlohmann::json::value_t::array: {
      out->push_back('[');
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) *out += ", ";
        dump(v[i], out);
      }
      out->push_back(']');
      break;
    }
    case nlohmann::json::value_t::object: {
      out->push_back('{');
      bool first = true;
      for (const auto& [key, value] : v.items()) {
        if (!first) *out += ", ";
        first = false;
        dump_string(key, out);
        *out += ": ";
        dump(value, out);
      }
      out->push_back('}');
      break;
    }
    default: *out += "null"; break;  // binary and discarded values do not come from JSON text
  }
}

}  // namespace

std::string python_json_dumps(const nlohmann::ordered_json& value) {
  std::string out;
  dump(value, &out);
  return out;
}

}  // namespace stepwise
