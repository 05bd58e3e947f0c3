// Communicator: the collectives tensor and data parallelism need, over one group of ranks.
// Backends: single-process (size 1; every collective is the identity), MPI (CPU tensors) and NCCL (GPU
// tensors). Collectives are in place where the operation allows, and every rank of the group must call them
// in the same order with tensors of the same shape.
#pragma once

#include <memory>
#include <string>

#include "core/tensor.h"

namespace stepwise {

enum class ReduceOp { kSum, kMax };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;  // "tp", "dp", "world": for messages

  virtual void all_reduce(Tensor& t, ReduceOp op) = 0;
  // out[n] = reduction over ranks of in[rank * n .. (rank + 1) * n)
  virtual void reduce_scatter(Tensor& out, const Tensor& in, ReduceOp op) = 0;
  // out[rank * n .. (rank + 1) * n) = in on each rank
  virtual void all_gather(Tensor& out, const Tensor& in) = 0;
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void barrier() = 0;
};

// The communicator of a group of one: what a single-process run uses for its TP and DP groups.
std::unique_ptr<Communicator> make_single_process_communicator(const std::string& name);

}  // namespace stepwise
