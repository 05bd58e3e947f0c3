// Nearest names by optimal-string-alignment distance (Levenshtein plus adjacent swaps: "--modle" -> "--model").
#include "cli/suggest.h"

#include <algorithm>

namespace stepwise::cli {

int edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  // d[i][j]: the distance between the first i characters of a and the first j of b.
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

std::vector<std::string> nearest_names(const std::string& typed, const std::vector<std::string>& known) {
  const int limit = std::clamp(static_cast<int>(typed.size()) / 3, 1, 3);
  int best = limit + 1;
  for (const std::string& name : known) best = std::min(best, edit_distance(typed, name));
  std::vector<std::string> out;
  for (const std::string& name : known)
    if (best <= limit ? edit_distance(typed, name) == best : typed.size() >= 3 && name.rfind(typed, 0) == 0)
      out.push_back(name);
  return out;
}

}  // namespace stepwise::cli
