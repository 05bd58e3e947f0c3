// OpGraph: a fixed sequence of kernel ops recorded once and replayed. On CUDA it is a CUDA graph: one launch for the
// hundreds of kernels of a decode step instead of a host call and a launch each, which is what bounds a small
// step's time. On the CPU the ops simply run again. The ops must be replayable: they read and write only buffers
// that outlive the graph, take every value that changes from step to step from those buffers (never from the
// host), and allocate or copy nothing between host and device.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "core/dtype.h"

namespace stepwise::kernels {

class OpGraph {
 public:
  // record = false runs the ops eagerly every time: the reference a recorded graph is checked against.
  OpGraph(Device device, std::function<void()> ops, bool record = true);

  // Runs the ops once: eagerly the first time (growing scratch buffers and filling cuBLASLt's caches, which a
  // recording cannot do), then recorded and replayed. A recording the driver refuses is logged with its error and
  // the ops run eagerly from then on: slower, never wrong.
  void run();
  // Whether runs replay a recorded CUDA graph.
  bool recorded() const { return graph_ != nullptr; }

 private:
  Device device_;
  std::function<void()> ops_;
  bool record_;
  int64_t runs_ = 0;
  std::shared_ptr<void> graph_;
};

}  // namespace stepwise::kernels
