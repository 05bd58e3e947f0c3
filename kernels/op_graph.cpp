// OpGraph (kernels/op_graph.h): eager first run, then the backend's recording or plain re-runs.
#include "kernels/op_graph.h"

#include <glog/logging.h>

#include <exception>
#include <utility>

#ifdef STEPWISE_HAS_CUDA
#include "kernels/cuda/cuda_graph.h"
#endif

namespace stepwise::kernels {

OpGraph::OpGraph(Device device, std::function<void()> ops, bool record)
    : device_(device), ops_(std::move(ops)), record_(record && device == Device::kCUDA) {}

void OpGraph::run() {
#ifdef STEPWISE_HAS_CUDA
  if (record_ && runs_ > 0 && !graph_) {
    try {
      graph_ = cuda::record_graph(ops_);
    } catch (const std::exception& e) {
      LOG(WARNING) << "recording a CUDA graph failed; its ops run one by one from now on (slower, same results): "
                   << e.what();
      record_ = false;
    }
  }
  if (graph_) {
    cuda::replay_graph(graph_.get());
    ++runs_;
    return;
  }
#endif
  ops_();
  ++runs_;
}

}  // namespace stepwise::kernels
