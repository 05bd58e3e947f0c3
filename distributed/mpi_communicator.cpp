// MPI collectives on CPU tensors. Element counts above INT_MAX (MPI's count type) are split into several calls
// for all-reduce and broadcast; a reduce-scatter or all-gather shard that large is an error.
#include "distributed/mpi_communicator.h"

#include <algorithm>
#include <climits>
#include <cstring>

#include "core/status.h"
#include "distributed/mpi_check.h"
#include "distributed/mpi_runtime.h"

namespace stepwise {

namespace {

constexpr int64_t kMaxCount = INT_MAX;

// bf16 / f16 reductions: combine in f32, round back to the 16-bit format.
template <float (*ToF32)(uint16_t), uint16_t (*FromF32)(float), bool kMax>
void reduce_16bit(void* in, void* inout, int* len, MPI_Datatype*) {
  const uint16_t* a = static_cast<const uint16_t*>(in);
  uint16_t* b = static_cast<uint16_t*>(inout);
  for (int i = 0; i < *len; ++i) {
    const float x = ToF32(a[i]), y = ToF32(b[i]);
    b[i] = FromF32(kMax ? std::max(x, y) : x + y);
  }
}

struct HalfOps {
  MPI_Op bf16_sum, bf16_max, f16_sum, f16_max;
  HalfOps() {
    MPI_CHECK(MPI_Op_create(&reduce_16bit<bf16_to_f32, f32_to_bf16, false>, 1, &bf16_sum));
    MPI_CHECK(MPI_Op_create(&reduce_16bit<bf16_to_f32, f32_to_bf16, true>, 1, &bf16_max));
    MPI_CHECK(MPI_Op_create(&reduce_16bit<f16_to_f32, f32_to_f16, false>, 1, &f16_sum));
    MPI_CHECK(MPI_Op_create(&reduce_16bit<f16_to_f32, f32_to_f16, true>, 1, &f16_max));
  }
};

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::kF32: return MPI_FLOAT;
    case DType::kI32: return MPI_INT32_T;
    case DType::kBF16:
    case DType::kF16: return MPI_UINT16_T;  // moved as bits; reduced by HalfOps
  }
  return MPI_DATATYPE_NULL;
}

MPI_Op mpi_op(DType dtype, ReduceOp op) {
  static const HalfOps half;  // created on first use, after MPI_Init
  const bool sum = op == ReduceOp::kSum;
  switch (dtype) {
    case DType::kBF16: return sum ? half.bf16_sum : half.bf16_max;
    case DType::kF16: return sum ? half.f16_sum : half.f16_max;
    default: return sum ? MPI_SUM : MPI_MAX;
  }
}

char* bytes_of(const Tensor& t) { return static_cast<char*>(t.data()); }

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, std::string name) : comm_(comm), name_(std::move(name)) {
    MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    MPI_CHECK(MPI_Comm_size(comm_, &size_));
  }
  ~MpiCommunicator() override {
    if (mpi_running()) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return name_; }
  Device device() const override { return Device::kCPU; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    check_tensor(Collective::kAllReduce, t);
    Scope scope(*this, Collective::kAllReduce, t.nbytes());
    const size_t es = dtype_size(t.dtype());
    for (int64_t off = 0; off < t.numel(); off += kMaxCount)
      MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, bytes_of(t) + off * es,
                              static_cast<int>(std::min(kMaxCount, t.numel() - off)), mpi_type(t.dtype()),
                              mpi_op(t.dtype(), op), comm_));
  }

  void reduce_scatter(Tensor& out, const Tensor& in, ReduceOp op) override {
    check_shard(Collective::kReduceScatter, out, in);
    check_count(Collective::kReduceScatter, out);
    Scope scope(*this, Collective::kReduceScatter, in.nbytes());
    const int count = static_cast<int>(out.numel());
    if (is_rank_slice(out, in)) {  // MPI_IN_PLACE leaves the result at the start of the buffer: move it
      MPI_CHECK(MPI_Reduce_scatter_block(MPI_IN_PLACE, bytes_of(in), count, mpi_type(in.dtype()),
                                         mpi_op(in.dtype(), op), comm_));
      if (rank_ > 0) std::memcpy(bytes_of(out), bytes_of(in), out.nbytes());
    } else {
      MPI_CHECK(MPI_Reduce_scatter_block(bytes_of(in), bytes_of(out), count, mpi_type(in.dtype()),
                                         mpi_op(in.dtype(), op), comm_));
    }
  }

  void all_gather(Tensor& out, const Tensor& in) override {
    check_shard(Collective::kAllGather, in, out);
    check_count(Collective::kAllGather, in);
    Scope scope(*this, Collective::kAllGather, out.nbytes());
    const int count = static_cast<int>(in.numel());
    const MPI_Datatype type = mpi_type(in.dtype());
    if (is_rank_slice(in, out))
      MPI_CHECK(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, bytes_of(out), count, type, comm_));
    else
      MPI_CHECK(MPI_Allgather(bytes_of(in), count, type, bytes_of(out), count, type, comm_));
  }

  void broadcast(Tensor& t, int root) override {
    check_tensor(Collective::kBroadcast, t);
    if (root < 0 || root >= size_) invalid_argument(where(Collective::kBroadcast), ": root ", root, " is not a rank");
    Scope scope(*this, Collective::kBroadcast, t.nbytes());
    const size_t es = dtype_size(t.dtype());
    for (int64_t off = 0; off < t.numel(); off += kMaxCount)
      MPI_CHECK(MPI_Bcast(bytes_of(t) + off * es, static_cast<int>(std::min(kMaxCount, t.numel() - off)),
                          mpi_type(t.dtype()), root, comm_));
  }

  void barrier() override {
    Scope scope(*this, Collective::kBarrier, 0);
    MPI_CHECK(MPI_Barrier(comm_));
  }

 private:
  void check_count(Collective c, const Tensor& part) const {
    if (part.numel() > kMaxCount)
      invalid_argument(where(c), ": a shard of ", part.numel(), " elements exceeds MPI's count limit ", kMaxCount);
  }

  MPI_Comm comm_;
  std::string name_;
  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm, const std::string& name) {
  return std::make_unique<MpiCommunicator>(comm, name);
}

}  // namespace stepwise
