// Small string helpers used across layers.
#pragma once

#include <string>

namespace stepwise {

// `s` without leading and trailing characters from `chars` (whitespace by default).
std::string trim(const std::string& s, const char* chars = " \t\r\n");
// Every occurrence of `from` (non-empty) replaced by `to`, scanning left to right past each replacement.
void replace_all(std::string& s, const std::string& from, const std::string& to);

}  // namespace stepwise
