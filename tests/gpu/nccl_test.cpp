// The NCCL communicator on one rank of a GPU host: every collective for every dtype on GPU tensors (a group of one
// still runs NCCL's kernels and copies), in and out of place, traffic counts, the CPU-tensor error, and both
// bootstraps: the id file of STEPWISE_NCCL_ID_FILE without MPI, then the id broadcast over MPI (mpirun -np 1 or a
// singleton). Skips without a visible GPU.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "core/memory.h"
#include "core/status.h"
#include "distributed/mpi_runtime.h"
#include "distributed/nccl_communicator.h"

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
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible";
  ASSERT_FALSE(mpi_running());
  const std::string id_file = ::testing::TempDir() + "/nccl-id-" + std::to_string(getpid());
  setenv("STEPWISE_NCCL_ID_FILE", id_file.c_str(), 1);
  const NcclGroups g = make_nccl_groups(0, 1, 0, 1);
  unsetenv("STEPWISE_NCCL_ID_FILE");
  for (Communicator* c : {g.world.get(), g.tp.get(), g.dp.get()}) check_every_collective(*c);
  std::remove(id_file.c_str());
}

TEST(NcclCommunicator, BootstrapOverMpi) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU visible";
  const MpiRuntime mpi;
  const NcclGroups g = make_nccl_groups(mpi.world_rank(), mpi.world_size(), 0, 1);
  for (Communicator* c : {g.world.get(), g.tp.get(), g.dp.get()}) check_every_collective(*c);
}

}  // namespace
}  // namespace stepwise::testing
