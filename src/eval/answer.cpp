// Answer extraction (\boxed, \fbox, ####, "the answer is", the last number) and normalisation. No std::regex:
// its backtracking can overflow the stack on long model output; every scan here is linear or bounded.
#include "eval/answer.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "core/strings.h"
#include "eval/answer_equivalence.h"

namespace stepwise {

namespace {

bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// The end of the {...} group opening at `open` (the index of its '}'), or npos when it is not closed.
size_t closing_brace(const std::string& s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string::npos;
}

// The content of the last \boxed{...} or \fbox{...}: nullopt without one, and also when that last one is cut off
// (the book then falls back to the last number rather than to an earlier box).
std::optional<std::string> last_box(const std::string& s) {
  const size_t boxed = s.rfind("\\boxed"), fbox = s.rfind("\\fbox");
  size_t at = boxed == std::string::npos ? fbox : fbox == std::string::npos ? boxed : std::max(boxed, fbox);
  if (at == std::string::npos) return std::nullopt;
  at += at == boxed ? 6 : 5;
  while (at < s.size() && is_space(s[at])) ++at;
  if (at >= s.size() || s[at] != '{') return std::nullopt;
  const size_t close = closing_brace(s, at);
  if (close == std::string::npos) return std::nullopt;
  return trim(s.substr(at + 1, close - at - 1), " $\t\r\n");
}

// The book's number pattern -?(\d+/\d+|\d+(\.\d+)?([eE][+-]?\d+)?), at `i`: its length, 0 when none starts there.
size_t number_length(const std::string& s, size_t i) {
  size_t j = i;
  if (j < s.size() && s[j] == '-') ++j;
  const size_t digits_begin = j;
  while (j < s.size() && is_digit(s[j])) ++j;
  if (j == digits_begin) return 0;
  if (j + 1 < s.size() && s[j] == '/' && is_digit(s[j + 1])) {
    for (++j; j < s.size() && is_digit(s[j]);) ++j;
    return j - i;
  }
  if (j + 1 < s.size() && s[j] == '.' && is_digit(s[j + 1]))
    for (++j; j < s.size() && is_digit(s[j]);) ++j;
  if (j + 1 < s.size() && (s[j] == 'e' || s[j] == 'E')) {
    size_t k = j + 1;
    if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
    if (k < s.size() && is_digit(s[k])) {
      while (k < s.size() && is_digit(s[k])) ++k;
      j = k;
    }
  }
  return j - i;
}

// All numbers of `s` left to right, as the book's RE_NUMBER.findall; `first_only` stops at the first.
std::optional<std::string> find_number(const std::string& s, bool first_only) {
  std::optional<std::string> found;
  for (size_t i = 0; i < s.size();) {
    const size_t n = number_length(s, i);
    if (n == 0) {
      ++i;
      continue;
    }
    found = s.substr(i, n);
    if (first_only) break;
    i += n;
  }
  return found;
}

std::string line_after(const std::string& s, size_t from) {
  const size_t end = s.find('\n', from);
  return trim(s.substr(from, end == std::string::npos ? std::string::npos : end - from));
}

// Whether `s` holds a word (three letters or more, not a command name): prose rather than math.
bool has_plain_word(const std::string& s) {
  for (size_t i = 0, run = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      while (i + 1 < s.size() && is_alpha(s[i + 1])) ++i;
      run = 0;
      continue;
    }
    run = is_alpha(s[i]) ? run + 1 : 0;
    if (run >= 3) return true;
  }
  return false;
}

// After "the answer is": the math in $...$ when there is some; else the rest of the line when it is all math
// ("\frac{1}{2}."); else its first number ("17 apples").
std::optional<std::string> answer_is(const std::string& s) {
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  const size_t at = lower.rfind("answer is");
  if (at == std::string::npos) return std::nullopt;
  std::string rest = trim(line_after(s, at + 9), " :*\t");
  while (!rest.empty() && (rest.back() == '.' || rest.back() == '*')) rest.pop_back();  // "42.", "**42.**"
  const size_t dollar = rest.find('$');
  if (dollar != std::string::npos) {
    const size_t end = rest.find('$', dollar + 1);
    if (end != std::string::npos) {
      const std::string math = trim(rest.substr(dollar + 1, end - dollar - 1), " $\t");
      if (!math.empty()) return math;
    }
  }
  if (!rest.empty() && !has_plain_word(rest)) return rest;
  return find_number(rest, true);
}

// Unit words dropped after a value ("5 inches", "\text{ square units}").
bool is_unit_word(const std::string& word) {
  static const char* const kUnits[] = {
      "unit",   "units",  "square",  "sq",      "cubic",   "cm",      "m",     "km",      "mm",     "in",      "inch",
      "inches", "ft",     "feet",    "foot",    "yard",    "yards",   "meter", "meters",  "mile",   "miles",   "mph",
      "hour",   "hours",  "minute",  "minutes", "second",  "seconds", "day",   "days",    "week",   "weeks",   "year",
      "years",  "degree", "degrees", "dollar",  "dollars", "cent",    "cents", "percent", "people", "students"};
  for (const char* unit : kUnits)
    if (word == unit) return true;
  return false;
}

bool all_unit_words(const std::string& text) {
  std::string word;
  bool any = false;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || is_space(text[i])) {
      if (!word.empty() && !is_unit_word(word)) return false;
      any = any || !word.empty();
      word.clear();
    } else {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
    }
  }
  return any;
}

// \text{...} and its kin: around the whole answer, their content; inside, units are dropped, "and"/"or" become
// commas (1 \text{ and } 2), anything else stays as plain words.
std::string unwrap_text_commands(std::string s) {
  static const char* const kCommands[] = {"\\textbf", "\\textit", "\\textrm", "\\textnormal", "\\text",
                                          "\\mbox",   "\\mathrm", "\\mathbf", "\\mathit",     "\\boxed"};
  for (const char* command : kCommands) {
    const std::string name = command;
    for (size_t at = s.find(name + "{"); at != std::string::npos; at = s.find(name + "{", at)) {
      const size_t close = closing_brace(s, at + name.size());
      if (close == std::string::npos) break;
      const std::string content = s.substr(at + name.size() + 1, close - at - name.size() - 1);
      const bool whole = trim(s.substr(0, at)).empty() && trim(s.substr(close + 1)).empty();
      const std::string lower_content = trim(content);
      std::string replacement = content;
      if (!whole && name.compare(0, 5, "\\math") != 0) {
        if (trim(content).empty() || all_unit_words(content)) replacement = "";
        if (lower_content == "and" || lower_content == "or") replacement = ",";
      }
      size_t end = close + 1;
      if (!whole && replacement.empty()) {  // a unit's power goes with it: \mbox{ inches}^2
        size_t k = end;
        while (k < s.size() && s[k] == ' ') ++k;
        if (k + 1 < s.size() && s[k] == '^' && (is_digit(s[k + 1]) || s[k + 1] == '{')) {
          end = s[k + 1] == '{' ? closing_brace(s, k + 1) : k + 1;
          end = end == std::string::npos ? close + 1 : end + 1;
        }
      }
      s.replace(at, end - at, whole ? replacement : " " + replacement + " ");
    }
  }
  return s;
}

// Drops trailing unit words after a value ("12 inches", "6 square units").
std::string drop_trailing_units(const std::string& s) {
  size_t end = s.size();
  while (true) {
    size_t b = end;
    if (b >= 2 && is_digit(s[b - 1]) && s[b - 2] == '^') b -= 2;  // cm^2
    const size_t power = b;
    while (b > 0 && is_alpha(s[b - 1])) --b;
    if (b == power || b == 0) break;
    // Attached to a number only when unmistakable ("5.4cents"; "3m" may be 3 times m).
    const bool separated = is_space(s[b - 1]) || (is_digit(s[b - 1]) && power - b >= 3);
    if (!separated || !is_unit_word(s.substr(b, power - b))) break;
    end = b;
    while (end > 0 && is_space(s[end - 1])) --end;
  }
  return s.substr(0, end);
}

// Unicode superscripts (x², 10⁻³) as ^{...}, and the symbols models write for LaTeX commands.
std::string replace_unicode(std::string s) {
  static const std::pair<const char*, const char*> kSymbols[] = {
      {"\u2212", "-"},     {"\u2013", "-"},        {"\u00B7", "*"},      {"\u00D7", "*"}, {"\u00F7", "/"},
      {"\u03C0", "\\pi "}, {"\u221E", "\\infty "}, {"\u221A", "\\sqrt"}, {"\u00B0", ""}};
  for (const auto& [from, to] : kSymbols) replace_all(s, from, to);
  static const char* const kSuperscripts[] = {"\u2070", "\u00B9", "\u00B2", "\u00B3", "\u2074", "\u2075",
                                              "\u2076", "\u2077", "\u2078", "\u2079", "\u207A", "\u207B"};
  static const char kPlain[] = "0123456789+-";
  std::string out;
  bool in_run = false;
  for (size_t i = 0; i < s.size();) {
    int match = -1;
    for (int k = 0; k < 12 && match < 0; ++k)
      if (s.compare(i, std::char_traits<char>::length(kSuperscripts[k]), kSuperscripts[k]) == 0) match = k;
    if (match < 0) {
      if (in_run) out += "}";
      in_run = false;
      out.push_back(s[i++]);
      continue;
    }
    if (!in_run) out += "^{";
    in_run = true;
    out.push_back(kPlain[match]);
    i += std::char_traits<char>::length(kSuperscripts[match]);
  }
  if (in_run) out += "}";
  return out;
}

// Spaces matter only between two letters ("\pi r", "Evelyn Smith"); all others go, runs become one.
std::string squeeze_spaces(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!is_space(s[i])) {
      out.push_back(s[i]);
      continue;
    }
    size_t j = i;
    while (j < s.size() && is_space(s[j])) ++j;
    if (!out.empty() && j < s.size() && is_alpha(out.back()) && is_alpha(s[j])) out.push_back(' ');
    i = j - 1;
  }
  return out;
}

// 1,234,567.5 (the whole answer) -> 1234567.5; a tuple such as (1,234) keeps its comma.
std::string drop_thousands_separators(const std::string& s) {
  size_t i = s.size() > 0 && s[0] == '-' ? 1 : 0;
  size_t group = 0;
  bool separated = false;
  for (; i < s.size() && s[i] != '.'; ++i) {
    if (is_digit(s[i])) {
      ++group;
    } else if (s[i] == ',' && group >= 1 && (!separated ? group <= 3 : group == 3)) {
      separated = true;
      group = 0;
    } else {
      return s;
    }
  }
  if (!separated || group != 3) return s;
  for (size_t k = i + (i < s.size() ? 1 : 0); k < s.size(); ++k)
    if (!is_digit(s[k])) return s;
  std::string out = s;
  out.erase(std::remove(out.begin(), out.end(), ','), out.end());
  return out;
}

}  // namespace

std::optional<std::string> extract_answer(const std::string& completion, AnswerFallback fallback) {
  const size_t think_end = completion.rfind("</think>");
  const std::string final_part = think_end == std::string::npos ? completion : completion.substr(think_end + 8);
  if (auto box = last_box(final_part)) return box;
  if (const size_t hashes = final_part.rfind("####"); hashes != std::string::npos) {
    const std::string rest = trim(line_after(final_part, hashes + 4), " .$\t");
    if (!rest.empty()) return rest;
  }
  if (auto stated = answer_is(final_part)) return stated;
  if (fallback == AnswerFallback::kNone) return std::nullopt;
  if (auto number = find_number(final_part, false)) return number;
  const std::string whole = trim(final_part);
  if (fallback == AnswerFallback::kNumberThenFull && !whole.empty()) return whole;
  return std::nullopt;
}

std::string normalize_answer(const std::string& answer) {
  std::string s = answer;
  for (size_t at = s.find("<|"); at != std::string::npos; at = s.find("<|", at)) {  // chat special tokens
    const size_t end = s.find("|>", at);
    if (end == std::string::npos) break;
    s.erase(at, end + 2 - at);
  }
  s = replace_unicode(s);
  // Matrix row breaks (\\) are set aside, so that the spacing commands below (\ , \,) do not eat a backslash.
  const std::string kRowBreak = "\x01";
  replace_all(s, "\\\\", kRowBreak);
  static const std::pair<const char*, const char*> kReplacements[] = {{"\\$", ""},
                                                                      {"$", ""},
                                                                      {"\\(", ""},
                                                                      {"\\)", ""},
                                                                      {"\\[", ""},
                                                                      {"\\]", ""},
                                                                      {"\\displaystyle", ""},
                                                                      {"\\left", ""},
                                                                      {"\\right", ""},
                                                                      {"\\bigl", ""},
                                                                      {"\\bigr", ""},
                                                                      {"\\Bigl", ""},
                                                                      {"\\Bigr", ""},
                                                                      {"\\,", " "},
                                                                      {"\\!", ""},
                                                                      {"\\;", " "},
                                                                      {"\\:", " "},
                                                                      {"\\qquad", " "},
                                                                      {"\\quad", " "},
                                                                      {"\\ ", " "},
                                                                      {"~", " "},
                                                                      {"\\dfrac", "\\frac"},
                                                                      {"\\tfrac", "\\frac"},
                                                                      {"\\dbinom", "\\binom"},
                                                                      {"\\tbinom", "\\binom"},
                                                                      {"\\cdot", "*"},
                                                                      {"\\times", "*"},
                                                                      {"\\circ", ""},
                                                                      {"\\degree", ""},
                                                                      {"\\%", ""},
                                                                      {"%", ""},
                                                                      {"{,}", ","}};
  for (const auto& [from, to] : kReplacements) replace_all(s, from, to);
  replace_all(s, kRowBreak, "\\\\");
  s = unwrap_text_commands(s);
  s = trim(drop_trailing_units(trim(s)));
  // A leading choice label, as the book: "c. 3" -> "3", "b: 2" -> "2".
  if (s.size() > 2 && is_alpha(s[0])) {
    size_t k = 1;
    while (k < s.size() && is_space(s[k])) ++k;
    if (k < s.size() && (s[k] == '.' || s[k] == ':') && !trim(s.substr(k + 1)).empty()) s = trim(s.substr(k + 1));
  }
  s = squeeze_spaces(s);
  replace_all(s, "^{}", "");  // what a removed ^{\circ} leaves
  while (!s.empty() && (s.back() == '.' || s.back() == '^')) s.pop_back();
  return drop_thousands_separators(s);
}

bool answers_match(const std::string& predicted, const std::string& reference) {
  return compare_answers(predicted, reference).equal;
}

}  // namespace stepwise
