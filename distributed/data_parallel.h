// Data parallelism's communication in one place (the counterpart of tensor_parallel.h): every point where the
// ranks of a DP group talk, each a function named by its role. DP ranks hold the same model and see different
// data; per optimizer step they agree on the step's token count and loss, then either all-reduce the flat gradient
// block (plain DP) or, with ZeRO-1, reduce-scatter it so that each rank updates one slice and all-gather the
// updated parameters.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "distributed/communicator.h"

namespace stepwise {

// A step's token counts and loss sums over the DP group (see sum_over_ranks for the precision of each).
int64_t sum_over_dp(Communicator& dp, int64_t value);
double sum_over_dp(Communicator& dp, double value);

// Plain DP: the flat gradient block summed over the group, on every rank.
void all_reduce_gradients(Communicator& dp, Tensor& grad_block);

// ZeRO-1: this rank's slice of a flat block whose element count divides by the group size.
Tensor dp_slice(Communicator& dp, const Tensor& block);
// ZeRO-1: this rank's slice of the flat gradient block receives the group's sum (the rest of the block is stale).
void reduce_scatter_gradients(Communicator& dp, Tensor& grad_block);
// ZeRO-1: every rank's updated slice of the flat parameter block, to every rank.
void all_gather_parameters(Communicator& dp, Tensor& param_block);
// ZeRO-1: the gradient norm's two partial sums of squares (TP-sharded and replicated tensors), each rank having
// summed only its slice, summed over the group.
void sum_norm_parts_over_dp(Communicator& dp, double& sharded, double& replicated);

}  // namespace stepwise
