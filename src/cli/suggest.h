// "Did you mean": the known names nearest to a mistyped one (a flag, a command, a benchmark), by edit distance.
#pragma once

#include <string>
#include <vector>

namespace stepwise::cli {

// Edits (insert, delete, substitute one character, or swap two adjacent ones) that turn a into b.
int edit_distance(const std::string& a, const std::string& b);

// The names in `known` nearest to `typed`: all those at the smallest edit distance when it is small for the
// length of `typed` (a third of it, at least 1 and at most 3), else those that `typed` begins (a cut-off name,
// 3 characters or more); empty when nothing is near. In the order of `known`.
std::vector<std::string> nearest_names(const std::string& typed, const std::vector<std::string>& known);

}  // namespace stepwise::cli
