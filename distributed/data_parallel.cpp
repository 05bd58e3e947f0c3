// Data parallelism: every collective of the DP group (see data_parallel.h).
#include "distributed/data_parallel.h"

#include <vector>

#include "core/status.h"

namespace stepwise {

int64_t sum_over_dp(Communicator& dp, int64_t value) { return sum_over_ranks(dp, value); }

double sum_over_dp(Communicator& dp, double value) { return sum_over_ranks(dp, value); }

void all_reduce_gradients(Communicator& dp, Tensor& grad_block) {
  if (dp.size() > 1) dp.all_reduce(grad_block, ReduceOp::kSum);
}

Tensor dp_slice(Communicator& dp, const Tensor& block) {
  SW_CHECK(block.numel() % dp.size() == 0, "a flat block of ", block.numel(), " elements over ", dp.size(),
           " DP ranks");
  const int64_t shard = block.numel() / dp.size();
  return block.rows(dp.rank() * shard, (dp.rank() + 1) * shard);
}

void reduce_scatter_gradients(Communicator& dp, Tensor& grad_block) {
  Tensor mine = dp_slice(dp, grad_block);
  dp.reduce_scatter(mine, grad_block, ReduceOp::kSum);
}

void all_gather_parameters(Communicator& dp, Tensor& param_block) {
  dp.all_gather(param_block, dp_slice(dp, param_block));
}

void sum_norm_parts_over_dp(Communicator& dp, double& sharded, double& replicated) {
  Tensor sums = Tensor::from_vector(std::vector<float>{static_cast<float>(sharded), static_cast<float>(replicated)},
                                    {2})
                    .to(dp.device());
  dp.all_reduce(sums, ReduceOp::kSum);
  const std::vector<float> total = sums.to_f32_vector();
  sharded = total[0];
  replicated = total[1];
}

}  // namespace stepwise
