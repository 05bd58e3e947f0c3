// Answer extraction (\boxed, ####, "answer is") and normalised exact comparison.
#include "eval/answer.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace stepwise {

namespace {

// The contents of the last \boxed{...} in s, braces balanced.
std::optional<std::string> last_boxed(const std::string& s) {
  const size_t at = s.rfind("\\boxed{");
  if (at == std::string::npos) return std::nullopt;
  int depth = 1;
  const size_t begin = at + 7;
  for (size_t i = begin; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return s.substr(begin, i - begin);
  }
  return std::nullopt;  // unclosed: the generation was cut off
}

// The first number (digits, optional sign, separators and decimals) at or after `from`.
std::optional<std::string> number_after(const std::string& s, size_t from) {
  size_t i = from;
  while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i]))) {
    if (s[i] == '\n' && i > from + 1) return std::nullopt;  // only on the same line
    ++i;
  }
  if (i == s.size()) return std::nullopt;
  size_t b = i;
  if (b > from && s[b - 1] == '-') --b;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == ',' ||
                          (s[i] == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))))
    ++i;
  return s.substr(b, i - b);
}

std::optional<double> as_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (*end || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::string> extract_answer(const std::string& completion) {
  const size_t think_end = completion.rfind("</think>");
  const std::string final_part = think_end == std::string::npos ? completion : completion.substr(think_end + 8);
  if (auto boxed = last_boxed(final_part)) return boxed;
  if (const size_t hashes = final_part.rfind("####"); hashes != std::string::npos)
    return number_after(final_part, hashes + 4);
  if (const size_t is = final_part.rfind("answer is"); is != std::string::npos)
    return number_after(final_part, is + 9);
  return std::nullopt;
}

std::string normalize_answer(const std::string& answer) {
  std::string out;
  for (size_t i = 0; i < answer.size(); ++i) {
    const char c = answer[i];
    if (std::isspace(static_cast<unsigned char>(c)) || c == '$') continue;
    if (c == '\\' && i + 1 < answer.size() && answer[i + 1] == '!') {
      ++i;
      continue;
    }
    // thousands separators: a comma between a digit and three digits
    const auto digit = [&](size_t k) {
      return k < answer.size() && std::isdigit(static_cast<unsigned char>(answer[k]));
    };
    if (c == ',' && !out.empty() && std::isdigit(static_cast<unsigned char>(out.back())) && digit(i + 1) &&
        digit(i + 2) && digit(i + 3) && !digit(i + 4))
      continue;
    out.push_back(c);
  }
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool answers_match(const std::string& predicted, const std::string& reference) {
  const std::string p = normalize_answer(predicted), r = normalize_answer(reference);
  const auto pn = as_number(p), rn = as_number(r);
  if (pn && rn) return *pn == *rn;
  return p == r;
}

}  // namespace stepwise
