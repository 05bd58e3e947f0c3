// CUDA graphs for kernels/op_graph.h. The legacy default stream cannot be captured, so a graph has its own
// non-blocking stream: the recording thread's ops go there (set_thread_stream) while it records, and each replay is
// fenced with events against the legacy stream, where everything else runs, so that ordering stays what it was.
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/cuda_graph.h"

namespace stepwise::kernels::cuda {

namespace {

struct RecordedGraph {
  cudaStream_t stream = nullptr;
  cudaGraphExec_t exec = nullptr;
  cudaEvent_t before = nullptr, after = nullptr;

  RecordedGraph() {
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&before, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&after, cudaEventDisableTiming));
  }
  ~RecordedGraph() {
    if (exec) cudaGraphExecDestroy(exec);
    cudaEventDestroy(before);
    cudaEventDestroy(after);
    cudaStreamDestroy(stream);
  }
  RecordedGraph(const RecordedGraph&) = delete;
  RecordedGraph& operator=(const RecordedGraph&) = delete;
};

}  // namespace

std::shared_ptr<void> record_graph(const std::function<void()>& ops) {
  auto g = std::make_shared<RecordedGraph>();
  const cudaStream_t previous = stream();
  // Thread-local mode: other threads (a server's, OpenMP's) may keep using CUDA while this one records.
  CUDA_CHECK(cudaStreamBeginCapture(g->stream, cudaStreamCaptureModeThreadLocal));
  set_thread_stream(g->stream);
  cudaGraph_t graph = nullptr;
  try {
    ops();
  } catch (...) {
    set_thread_stream(previous);
    if (cudaStreamEndCapture(g->stream, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
    (void)cudaGetLastError();  // the refusal is reported by the exception
    throw;
  }
  set_thread_stream(previous);
  CUDA_CHECK(cudaStreamEndCapture(g->stream, &graph));
  const cudaError_t instantiated = cudaGraphInstantiate(&g->exec, graph, 0);
  cudaGraphDestroy(graph);
  CUDA_CHECK(instantiated);
  return g;
}

void replay_graph(void* graph) {
  auto* g = static_cast<RecordedGraph*>(graph);
  CUDA_CHECK(cudaEventRecord(g->before, 0));
  CUDA_CHECK(cudaStreamWaitEvent(g->stream, g->before, 0));
  CUDA_CHECK(cudaGraphLaunch(g->exec, g->stream));
  CUDA_CHECK(cudaEventRecord(g->after, g->stream));
  CUDA_CHECK(cudaStreamWaitEvent(0, g->after, 0));
}

}  // namespace stepwise::kernels::cuda
