// NCCL collectives on GPU tensors, and the bootstrap of the NCCL world (unique id over MPI or a shared file).
#include "distributed/nccl_communicator.h"

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "core/status.h"
#include "distributed/mpi_check.h"
#include "distributed/mpi_runtime.h"
#include "distributed/watchdog.h"

#define NCCL_CHECK(call)                                                                                     \
  do {                                                                                                       \
    const ncclResult_t nccl_check_result_ = (call);                                                          \
    if (nccl_check_result_ != ncclSuccess)                                                                   \
      ::stepwise::fail(::stepwise::StatusCode::kUnavailable, __FILE__, ":", __LINE__, ": ", #call,           \
                       " failed: ", ncclGetErrorString(nccl_check_result_), " (", ncclGetLastError(nullptr), \
                       "); NCCL_DEBUG=INFO shows why");                                                      \
  } while (0)

#define CUDA_CHECK(call)                                                                        \
  do {                                                                                          \
    const cudaError_t cuda_check_error_ = (call);                                               \
    if (cuda_check_error_ != cudaSuccess)                                                       \
      ::stepwise::fail(::stepwise::StatusCode::kInternal, __FILE__, ":", __LINE__, ": ", #call, \
                       " failed: ", cudaGetErrorString(cuda_check_error_));                     \
  } while (0)

namespace stepwise {

namespace {

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::kF32: return ncclFloat32;
    case DType::kBF16: return ncclBfloat16;
    case DType::kF16: return ncclFloat16;
    case DType::kI32: return ncclInt32;
  }
  return ncclFloat32;
}

ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::kSum ? ncclSum : ncclMax; }

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, std::string name) : comm_(comm), name_(std::move(name)) {
    NCCL_CHECK(ncclCommUserRank(comm_, &rank_));
    NCCL_CHECK(ncclCommCount(comm_, &size_));
    CUDA_CHECK(cudaStreamCreate(&stream_));  // blocking: ordered with the legacy default stream
    CUDA_CHECK(cudaMalloc(&barrier_word_, sizeof(float)));
  }
  ~NcclCommunicator() override {
    if (comm_) ncclCommDestroy(comm_);
    cudaFree(barrier_word_);
    cudaStreamDestroy(stream_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return name_; }
  Device device() const override { return Device::kCUDA; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    check_tensor(Collective::kAllReduce, t);
    Scope scope(*this, Collective::kAllReduce, t.nbytes());
    NCCL_CHECK(ncclAllReduce(t.data(), t.data(), t.numel(), nccl_type(t.dtype()), nccl_op(op), comm_, stream_));
    wait(Collective::kAllReduce);
  }
  void reduce_scatter(Tensor& out, const Tensor& in, ReduceOp op) override {
    check_shard(Collective::kReduceScatter, out, in);
    is_rank_slice(out, in);  // NCCL is in place exactly when out is this rank's slice; other overlaps fail
    Scope scope(*this, Collective::kReduceScatter, in.nbytes());
    NCCL_CHECK(
        ncclReduceScatter(in.data(), out.data(), out.numel(), nccl_type(in.dtype()), nccl_op(op), comm_, stream_));
    wait(Collective::kReduceScatter);
  }
  void all_gather(Tensor& out, const Tensor& in) override {
    check_shard(Collective::kAllGather, in, out);
    is_rank_slice(in, out);
    Scope scope(*this, Collective::kAllGather, out.nbytes());
    NCCL_CHECK(ncclAllGather(in.data(), out.data(), in.numel(), nccl_type(in.dtype()), comm_, stream_));
    wait(Collective::kAllGather);
  }
  void broadcast(Tensor& t, int root) override {
    check_tensor(Collective::kBroadcast, t);
    if (root < 0 || root >= size_) invalid_argument(where(Collective::kBroadcast), ": root ", root, " is not a rank");
    Scope scope(*this, Collective::kBroadcast, t.nbytes());
    NCCL_CHECK(ncclBroadcast(t.data(), t.data(), t.numel(), nccl_type(t.dtype()), root, comm_, stream_));
    wait(Collective::kBroadcast);
  }
  void barrier() override {  // NCCL has none: a one-element all-reduce that every rank must join
    Scope scope(*this, Collective::kBarrier, 0);
    NCCL_CHECK(ncclAllReduce(barrier_word_, barrier_word_, 1, ncclFloat32, ncclSum, comm_, stream_));
    wait(Collective::kBarrier);
  }

 private:
  // Waits for the stream, turning an asynchronous NCCL error (a peer failed) into an exception after aborting
  // the communicator; a collective that never completes is the watchdog's.
  void wait(Collective c) {
    while (true) {
      const cudaError_t status = cudaStreamQuery(stream_);
      if (status == cudaSuccess) return;
      if (status != cudaErrorNotReady) CUDA_CHECK(status);
      ncclResult_t async = ncclSuccess;
      NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
      if (async != ncclSuccess) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        fail(StatusCode::kUnavailable, where(c), ": NCCL failed asynchronously: ", ncclGetErrorString(async),
             " (a peer rank may have failed; NCCL_DEBUG=INFO shows more)");
      }
      std::this_thread::yield();
    }
  }

  ncclComm_t comm_;
  std::string name_;
  int rank_ = 0, size_ = 1;
  cudaStream_t stream_ = nullptr;
  void* barrier_word_ = nullptr;
};

int env_int(std::initializer_list<const char*> names, int fallback) {
  for (const char* n : names)
    if (const char* v = std::getenv(n)) return std::atoi(v);
  return fallback;
}

// Rank 0 writes its id to `path` (a temporary name, then rename: readers never see half an id); the others wait
// for the file. The path must be new for each job (e.g. include $SLURM_JOB_ID), or a stale id would be read.
ncclUniqueId nccl_id_from_file(const std::string& path, int rank) {
  ncclUniqueId id;
  if (rank == 0) {
    NCCL_CHECK(ncclGetUniqueId(&id));
    const std::string tmp = path + ".tmp." + std::to_string(getpid());
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f || std::fwrite(&id, sizeof id, 1, f) != 1 || std::fclose(f) != 0 || std::rename(tmp.c_str(), path.c_str()))
      fail(StatusCode::kUnavailable, "rank 0 cannot write the NCCL id file STEPWISE_NCCL_ID_FILE='", path,
           "'; it must be on a filesystem every rank can reach");
    return id;
  }
  const double limit = collective_timeout() > 0 ? collective_timeout() : 600;
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && st.st_size == static_cast<off_t>(sizeof id)) {
      FILE* f = std::fopen(path.c_str(), "rb");
      const bool ok = f && std::fread(&id, sizeof id, 1, f) == 1;
      if (f) std::fclose(f);
      if (ok) return id;
    }
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > limit)
      fail(StatusCode::kUnavailable, "rank ", rank, ": no NCCL id appeared in STEPWISE_NCCL_ID_FILE='", path,
           "' within ", limit, " s; did rank 0 start, and do both see the same filesystem?");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

ncclUniqueId nccl_id_over_mpi(int rank) {
  ncclUniqueId id;
  if (rank == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  const SetupDeadline deadline("broadcasting rank 0's NCCL id over MPI");
  MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD));
  return id;
}

}  // namespace

LaunchRanks launch_ranks_from_env() {
  LaunchRanks r;
  r.rank = env_int({"STEPWISE_RANK", "RANK", "SLURM_PROCID"}, 0);
  r.size = env_int({"STEPWISE_WORLD_SIZE", "WORLD_SIZE", "SLURM_NTASKS"}, 1);
  r.local_rank = env_int({"STEPWISE_LOCAL_RANK", "LOCAL_RANK", "SLURM_LOCALID"}, 0);
  if (r.size < 1 || r.rank < 0 || r.rank >= r.size)
    invalid_argument("launcher environment gives rank ", r.rank, " of world size ", r.size,
                     " (STEPWISE_RANK/RANK/SLURM_PROCID and STEPWISE_WORLD_SIZE/WORLD_SIZE/SLURM_NTASKS)");
  return r;
}

NcclGroups make_nccl_groups(int world_rank, int world_size, int local_rank, int tp_size) {
  int devices = 0;
  CUDA_CHECK(cudaGetDeviceCount(&devices));
  if (devices == 0) fail(StatusCode::kFailedPrecondition, "rank ", world_rank, ": no CUDA device is visible");
  CUDA_CHECK(cudaSetDevice(local_rank % devices));

  ncclUniqueId id;
  if (mpi_running()) {
    id = nccl_id_over_mpi(world_rank);
  } else {
    const char* path = std::getenv("STEPWISE_NCCL_ID_FILE");
    if (!path && world_size > 1)
      invalid_argument("rank ", world_rank, " of ", world_size, ": without mpirun/srun MPI, NCCL needs ",
                       "STEPWISE_NCCL_ID_FILE (a path on a shared filesystem, new for each job) to exchange its id");
    if (path)
      id = nccl_id_from_file(path, world_rank);
    else
      NCCL_CHECK(ncclGetUniqueId(&id));
  }
  const SetupDeadline deadline("creating the NCCL communicators (ncclCommInitRank, ncclCommSplit)");
  ncclComm_t world, tp, dp;
  NCCL_CHECK(ncclCommInitRank(&world, world_size, id, world_rank));
  const int tp_rank = world_rank % tp_size, dp_rank = world_rank / tp_size;
  NCCL_CHECK(ncclCommSplit(world, /*color=*/dp_rank, /*key=*/tp_rank, &tp, nullptr));
  NCCL_CHECK(ncclCommSplit(world, /*color=*/tp_rank, /*key=*/dp_rank, &dp, nullptr));
  NcclGroups g;
  g.world = std::make_unique<NcclCommunicator>(world, "world");
  g.tp = std::make_unique<NcclCommunicator>(tp, "tp");
  g.dp = std::make_unique<NcclCommunicator>(dp, "dp");
  return g;
}

}  // namespace stepwise
