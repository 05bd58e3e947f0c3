// GreedyDecoder: greedy decoding of one sequence with each step recorded once and replayed (kernels/op_graph.h: a
// CUDA graph on the GPU, so a step is one launch instead of ~340 and its time is the kernels', not the host's).
// Everything a step reads stays on the device in buffers of its own: the token it feeds is the previous step's
// argmax, written in place; its position and length advance on the device (kernels::increment); attention runs
// over the sequence's KvCache viewed as a one-block paged pool, whose split-KV kernel reads the length from the
// device and sizes its grid for the cache's capacity. The host reads back the 4-byte token of each step.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/op_graph.h"
#include "model/qwen3.h"

namespace stepwise {

class GreedyDecoder {
 public:
  // The whole model in this process (a tensor-parallel step has collectives between its kernels); `cache` empty, and
  // it must outlive the decoder. record = false runs each step's ops one by one (the reference for the recording).
  GreedyDecoder(Qwen3Model& model, KvCache& cache, bool record = true);
  GreedyDecoder(const GreedyDecoder&) = delete;
  GreedyDecoder& operator=(const GreedyDecoder&) = delete;

  // Runs the prompt into the cache and returns the greedy next token.
  int32_t start(const std::vector<int32_t>& prompt);
  // Feeds the token returned last and returns the next one; INVALID_ARGUMENT once the cache is full.
  int32_t next();
  // Whether steps replay a recorded CUDA graph (after the first, eager, step).
  bool recorded() const { return graph_->recorded(); }

 private:
  void step_ops();  // what a step records: the forward pass, the LM head, the argmax, the advance
  int32_t chosen() const;

  Qwen3Model& model_;
  KvCache& cache_;
  ForwardBuffers bufs_;  // one token's activations, apart from the model's (whose reallocation would strand a graph)
  PagedKvCache pool_;    // the cache's rows as one block of `capacity` slots
  DeviceBatch step_;     // tokens = ids_; positions = slots = the fed token's position; the one-block layout
  Tensor ids_;           // i32 [1]: the chosen token, which the next step feeds
  Tensor logits_;        // f32 [1, V_local]
  std::unique_ptr<kernels::OpGraph> graph_;
  bool started_ = false;
};

}  // namespace stepwise
