// Recording and replaying kernels/op_graph.h's graphs with CUDA graphs (kernels/cuda/graph.cpp).
#pragma once

#include <functional>
#include <memory>

namespace stepwise::kernels::cuda {

// Records the kernels `ops` issues on this thread into an instantiated graph, without running them. Throws the
// CUDA error when the driver refuses (an op that synchronises or copies from pageable memory), leaving no capture
// open.
std::shared_ptr<void> record_graph(const std::function<void()>& ops);
// Launches a recorded graph, ordered after the work already queued on the legacy default stream and before the
// work queued there next (an uploaded input, a downloaded result), like any other op.
void replay_graph(void* graph);

}  // namespace stepwise::kernels::cuda
