// Packing documents into rows of a fixed capacity, best-fit decreasing: documents are placed longest first (ties in
// the given order), each into the row whose free space fits it most tightly, a new row when none fits. Rows are
// not padded: a packed micro-batch lays its documents end to end (model/batch.h), so free space costs nothing.
#pragma once

#include <cstdint>
#include <vector>

namespace stepwise {

// Rows of indices into `lengths`, in the order the rows were opened; `order` lists the documents to pack (every
// length must be in [1, row_length]).
std::vector<std::vector<int64_t>> pack_best_fit_decreasing(const std::vector<int64_t>& lengths,
                                                           const std::vector<int64_t>& order, int64_t row_length);

}  // namespace stepwise
