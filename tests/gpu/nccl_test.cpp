// The NCCL communicator on a GPU host. One rank: every collective for every dtype on GPU tensors (a group of one
// still runs NCCL's kernels and copies), in and out of place, traffic counts, the CPU-tensor error, and both
// bootstraps: the id file of STEPWISE_NCCL_ID_FILE without MPI, then the id broadcast over MPI (mpirun -np 1 or a
// singleton). Two ranks (TwoRanks*, only under mpirun -np 2): every collective moves data between the ranks, in
// both group layouts (TP=2 and DP=2). Skips without a usable GPU, and fails instead under run_gpu_checks.sh.
//   one rank:  nccl_gpu_test --gtest_filter=-*TwoRanks*
//   two ranks: mpirun -np 2 [rank_env.sh] nccl_gpu_test --gtest_filter=*TwoRanks*
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/memory.h"
#include "core/status.h"
#include "distributed/mpi_runtime.h"
#include "distributed/nccl_communicator.h"
#include "gpu_required.h"

namespace stepwise::testing {
namespace {

const DType kDTypes[] = {DType::kF32, DType::kBF16, DType::kF16, DType::kI32};

// Small integers: exact in every dtype.
Tensor on_gpu(DType dtype, int64_t n, int offset) {
  std::vector<float> f;
  for (int64_t i = 0; i < n; ++i) f.push_back(static_cast<float>(i % 13 + offset));
  const Tensor host = dtype == DType::kI32 ? Tensor::from_vector(std::vector<int32_t>(f.begin(), f.end()), {n})
                                           : Tensor::from_vector(f, {n}).to_dtype(dtype);
  return host.to(Device::kCUDA);
}

std::vector<double> on_host(const Tensor& t) {
  const Tensor host = t.to(Device::kCPU);
  if (host.dtype() == DType::kI32)
    return std::vector<double>(host.data_as<int32_t>(), host.data_as<int32_t>() + host.numel());
  const std::vector<float> f = host.to_f32_vector();
  return std::vector<double>(f.begin(), f.end());
}

void check_every_collective(Communicator& c) {
  ASSERT_EQ(c.size(), 1);
  ASSERT_EQ(c.device(), Device::kCUDA);
  for (DType dtype : kDTypes) {
    SCOPED_TRACE(dtype_name(dtype));
    const std::vector<double> want = on_host(on_gpu(dtype, 300, 1));
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax}) {
      Tensor t = on_gpu(dtype, 300, 1);
      c.all_reduce(t, op);
      EXPECT_EQ(on_host(t), want);
    }
    Tensor in = on_gpu(dtype, 300, 1), out = Tensor::zeros({300}, dtype, Device::kCUDA);
    c.reduce_scatter(out, in, ReduceOp::kSum);
    EXPECT_EQ(on_host(out), want);
    c.reduce_scatter(in, in, ReduceOp::kSum);  // in place: rank 0's slice of a group of one is the whole buffer
    EXPECT_EQ(on_host(in), want);
    Tensor gathered = Tensor::zeros({300}, dtype, Device::kCUDA);
    c.all_gather(gathered, in);
    EXPECT_EQ(on_host(gathered), want);
    Tensor b = on_gpu(dtype, 300, 1);
    c.broadcast(b, 0);
    EXPECT_EQ(on_host(b), want);
  }
  c.barrier();
  c.reset_traffic();
  Tensor t = Tensor::zeros({256}, DType::kF32, Device::kCUDA);
  c.all_reduce(t, ReduceOp::kSum);
  EXPECT_EQ(c.traffic()[Collective::kAllReduce].calls, 1);
  EXPECT_EQ(c.traffic()[Collective::kAllReduce].payload_bytes, 1024);
  EXPECT_EQ(c.traffic()[Collective::kAllReduce].ring_bytes_sent, 0.0);  // a group of one sends nothing
  Tensor cpu = Tensor::zeros({4}, DType::kF32);
  EXPECT_THROW(c.all_reduce(cpu, ReduceOp::kSum), StatusError);
}

TEST(NcclCommunicator, BootstrapFromIdFileWithoutMpi) {
  SKIP_WITHOUT_GPU();
  ASSERT_FALSE(mpi_running());
  const std::string id_file = ::testing::TempDir() + "/nccl-id-" + std::to_string(getpid());
  setenv("STEPWISE_NCCL_ID_FILE", id_file.c_str(), 1);
  const NcclGroups g = make_nccl_groups(0, 1, 0, 1);
  unsetenv("STEPWISE_NCCL_ID_FILE");
  for (Communicator* c : {g.world.get(), g.tp.get(), g.dp.get()}) check_every_collective(*c);
  std::remove(id_file.c_str());
}

TEST(NcclCommunicator, BootstrapOverMpi) {
  SKIP_WITHOUT_GPU();
  const MpiRuntime mpi;
  const NcclGroups g = make_nccl_groups(mpi.world_rank(), mpi.world_size(), 0, 1);
  for (Communicator* c : {g.world.get(), g.tp.get(), g.dp.get()}) check_every_collective(*c);
}

// i % 13 + offset for i < n, as the host reads it back: small integers, exact in every dtype and in any sum of two.
std::vector<double> pattern(int64_t n, int offset) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(static_cast<double>(i % 13 + offset));
  return v;
}

// A group of two: rank r contributes pattern(., 1 + r), so every result tells which ranks' data reached it.
void check_two_ranks(Communicator& c) {
  ASSERT_EQ(c.size(), 2);
  ASSERT_EQ(c.device(), Device::kCUDA);
  const int me = c.rank();
  for (DType dtype : kDTypes) {
    SCOPED_TRACE(dtype_name(dtype));
    const std::vector<double> mine = pattern(300, 1 + me), theirs = pattern(300, 2 - me);
    std::vector<double> sum(300), max(300);
    for (size_t i = 0; i < sum.size(); ++i) {
      sum[i] = mine[i] + theirs[i];
      max[i] = std::max(mine[i], theirs[i]);
    }
    Tensor t = on_gpu(dtype, 300, 1 + me);
    c.all_reduce(t, ReduceOp::kSum);
    EXPECT_EQ(on_host(t), sum);
    t = on_gpu(dtype, 300, 1 + me);
    c.all_reduce(t, ReduceOp::kMax);
    EXPECT_EQ(on_host(t), max);
    // reduce_scatter: rank r keeps the sum's r-th half; all_gather puts rank r's half at the r-th place.
    Tensor half = Tensor::zeros({150}, dtype, Device::kCUDA);
    c.reduce_scatter(half, on_gpu(dtype, 300, 1 + me), ReduceOp::kSum);
    EXPECT_EQ(on_host(half), std::vector<double>(sum.begin() + 150 * me, sum.begin() + 150 * (me + 1)));
    Tensor gathered = Tensor::zeros({300}, dtype, Device::kCUDA);
    c.all_gather(gathered, on_gpu(dtype, 150, 1 + me));
    std::vector<double> want_gathered = pattern(150, 1);
    for (double x : pattern(150, 2)) want_gathered.push_back(x);
    EXPECT_EQ(on_host(gathered), want_gathered);
    Tensor b = on_gpu(dtype, 300, 1 + me);
    c.broadcast(b, 1);
    EXPECT_EQ(on_host(b), pattern(300, 2));
  }
  c.barrier();
  c.reset_traffic();
  Tensor t = Tensor::zeros({256}, DType::kF32, Device::kCUDA);
  c.all_reduce(t, ReduceOp::kSum);
  EXPECT_EQ(c.traffic()[Collective::kAllReduce].calls, 1);
  EXPECT_EQ(c.traffic()[Collective::kAllReduce].payload_bytes, 1024);
  EXPECT_EQ(c.traffic()[Collective::kAllReduce].ring_bytes_sent, ring_bytes_per_rank(Collective::kAllReduce, 1024, 2));
}

// Both layouts of two ranks: TP=2 (the TP group is the pair, DP groups of one) and DP=2 (the reverse). On a host
// with one GPU both ranks share it, which NCCL refuses ("Duplicate GPU detected") unless each rank has its own
// NCCL_HOSTID: run_gpu_checks.sh starts the ranks through rank_env.sh, which sets it, so that NCCL sees two hosts
// and connects them over sockets on the loopback interface.
TEST(NcclCommunicator, TwoRanksOverMpi) {
  SKIP_WITHOUT_GPU();
  if (!launched_by_mpi()) GTEST_SKIP() << "needs mpirun -np 2";
  const MpiRuntime mpi;
  ASSERT_EQ(mpi.world_size(), 2) << "run under mpirun -np 2";
  const int rank = mpi.world_rank();
  for (int tp_size : {2, 1}) {
    SCOPED_TRACE("tp size " + std::to_string(tp_size));
    const NcclGroups g = make_nccl_groups(rank, 2, /*local_rank=*/rank, tp_size);
    ASSERT_EQ(g.world->rank(), rank);
    check_two_ranks(*g.world);
    check_two_ranks(tp_size == 2 ? *g.tp : *g.dp);
    check_every_collective(tp_size == 2 ? *g.dp : *g.tp);
  }
}

}  // namespace
}  // namespace stepwise::testing
