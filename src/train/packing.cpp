// Best-fit decreasing bin packing with an ordered set of (free space, row).
#include "train/packing.h"

#include <algorithm>
#include <set>
#include <utility>

#include "core/status.h"

namespace stepwise {

std::vector<std::vector<int64_t>> pack_best_fit_decreasing(const std::vector<int64_t>& lengths,
                                                           const std::vector<int64_t>& order, int64_t row_length) {
  std::vector<int64_t> docs = order;
  std::stable_sort(docs.begin(), docs.end(), [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
  std::vector<std::vector<int64_t>> rows;
  std::set<std::pair<int64_t, int64_t>> free_space;  // (free tokens, row), smallest first
  for (int64_t d : docs) {
    const int64_t len = lengths[d];
    SW_CHECK(len >= 1 && len <= row_length, "document ", d, " of ", len, " tokens in rows of ", row_length);
    auto it = free_space.lower_bound({len, -1});
    int64_t row;
    int64_t left;
    if (it == free_space.end()) {
      row = static_cast<int64_t>(rows.size());
      rows.emplace_back();
      left = row_length;
    } else {
      row = it->second;
      left = it->first;
      free_space.erase(it);
    }
    rows[row].push_back(d);
    if (left - len > 0) free_space.insert({left - len, row});
  }
  return rows;
}

}  // namespace stepwise
