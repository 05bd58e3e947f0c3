// Communicator: the collectives tensor and data parallelism need, over one group of ranks.
// Backends: single-process (size 1; every collective is the identity), MPI (CPU tensors) and NCCL (GPU
// tensors). Collectives are in place where the operation allows, and every rank of the group must call them
// in the same order with tensors of the same shape. One thread per process issues collectives; each one runs
// under the collective watchdog's deadline (distributed/watchdog.h) and is counted in traffic() (bytes that
// ring algorithms send per rank, for the scaling benchmark and docs/distributed.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/tensor.h"

namespace stepwise {

enum class ReduceOp { kSum, kMax };

enum class Collective { kAllReduce, kReduceScatter, kAllGather, kBroadcast, kBarrier };
constexpr int kNumCollectives = 5;
const char* collective_name(Collective c);  // "all_reduce", ...

// Bytes one rank sends for a collective over `ranks` ranks with the ring algorithms, where `payload_bytes` is
// the full (unscattered) buffer: all-reduce 2(p-1)/p n; reduce-scatter and all-gather (p-1)/p n; broadcast
// (p-1)/p n (pipelined chain, averaged over ranks); barrier 0.
double ring_bytes_per_rank(Collective c, double payload_bytes, int ranks);

struct CollectiveTraffic {
  int64_t calls = 0;
  int64_t payload_bytes = 0;   // sum of the full buffer sizes
  double ring_bytes_sent = 0;  // ring_bytes_per_rank summed over the calls
  double seconds = 0;          // wall time inside the collective
};

struct CommTraffic {
  std::array<CollectiveTraffic, kNumCollectives> by_collective{};
  const CollectiveTraffic& operator[](Collective c) const { return by_collective[static_cast<int>(c)]; }
  CollectiveTraffic total() const;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;  // "tp", "dp", "world": for messages
  virtual Device device() const = 0;     // where its tensors live (the single-process group takes any)

  virtual void all_reduce(Tensor& t, ReduceOp op) = 0;
  // out[n] = reduction over ranks of in[rank * n .. (rank + 1) * n); out may be that slice of in (in place).
  virtual void reduce_scatter(Tensor& out, const Tensor& in, ReduceOp op) = 0;
  // out[rank * n .. (rank + 1) * n) = in on each rank; in may be that slice of out (in place).
  virtual void all_gather(Tensor& out, const Tensor& in) = 0;
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void barrier() = 0;

  const CommTraffic& traffic() const { return traffic_; }
  void reset_traffic() { traffic_ = CommTraffic(); }

 protected:
  // Held by a backend for the duration of one collective: arms the watchdog (groups of more than one rank) and
  // on completion counts the call, its payload and its ring bytes in traffic().
  class Scope {
   public:
    Scope(Communicator& comm, Collective c, size_t payload_bytes);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Communicator& comm_;
    Collective collective_;
    size_t payload_bytes_;
    double start_;
  };

  // "all_reduce over tp (rank 1 of 2)": the start of every error message of a collective.
  std::string where(Collective c) const;
  // Operand checks shared by the backends (INVALID_ARGUMENT naming the collective): a defined tensor on device();
  // `part` one rank's share of `whole` (same dtype, whole = size() x part).
  void check_tensor(Collective c, const Tensor& t) const;
  void check_shard(Collective c, const Tensor& part, const Tensor& whole) const;
  // True when part is exactly this rank's slice of whole (the in-place form); other overlaps are an error.
  bool is_rank_slice(const Tensor& part, const Tensor& whole) const;

 private:
  CommTraffic traffic_;
};

// The communicator of a group of one: what a single-process run uses for its TP and DP groups.
std::unique_ptr<Communicator> make_single_process_communicator(const std::string& name);

// Scalars summed over a group (token counts and loss sums of data-parallel ranks), through a one-element tensor
// on the group's device. int64 sums must fit in int32 (a step's token count does); doubles travel as f32. A group
// of one returns the value unchanged.
int64_t sum_over_ranks(Communicator& comm, int64_t value);
double sum_over_ranks(Communicator& comm, double value);

}  // namespace stepwise
