// Qwen3Model: the Qwen3 decoder written once against the kernel interface, for the CPU and CUDA backends and
// for any tensor-parallel size. Forward and explicit backward passes over packed micro-batches, full logits for
// scoring, incremental decoding against a KvCache, and the serving engine's batched steps over a PagedKvCache.
//
// Tensor parallelism follows Megatron-LM: the partition is model/qwen3_partition.h's, and every point where the TP
// ranks talk is a function of distributed/tensor_parallel.h (called from qwen3.cpp and lm_head_loss.cpp).
#pragma once

#include <memory>
#include <vector>

#include "distributed/communicator.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "kernels/ops.h"
#include "model/activations.h"
#include "model/batch.h"
#include "model/kv_cache.h"
#include "model/lm_head_loss.h"
#include "model/parameters.h"

namespace stepwise {

struct ModelOptions {
  Device device = Device::kCPU;
  DType compute_dtype = DType::kF32;  // parameters and activations (bf16 on CUDA)
  Communicator* tp = nullptr;         // tensor-parallel group; null: this process holds the whole model
  // Rows of logits formed at once; 0 picks the device's: each chunk rewrites the f32 head gradient (V x D, 622 MB
  // for Qwen3's vocabulary at D = 1024), so the GPU takes 4096 rows (2.5 GB of f32 logits, 1.2 GB in bf16); the
  // CPU keeps 1024 (its chunk's logits fit a large cache share and the gradient is touched by a GEMM anyway).
  int64_t lm_head_chunk = 0;
  // The flat weight and gradient blocks hold a multiple of this many elements (zero padding at the end), so that
  // ZeRO-1 can shard them evenly: set it to the data-parallel size.
  int64_t flat_block_multiple = 1;
  // Training keeps only each layer's input and recomputes the layer's activations in the backward pass: one layer's
  // activations in memory instead of all of them (long reasoning traces), for one more forward pass of compute.
  // Gradients are the same bit for bit.
  bool recompute_activations = false;
  // CPU only: matmuls and attention accumulate in f64 (the reference) or f32 (faster; kernels/ops.h).
  kernels::CpuAccumulation cpu_accumulation = kernels::CpuAccumulation::kFloat64;
};

class Qwen3Model {
 public:
  Qwen3Model(const Qwen3Config& config, const ModelOptions& options);

  const Qwen3Config& config() const { return config_; }
  const Qwen3LocalDims& dims() const { return dims_; }
  const ModelOptions& options() const { return options_; }
  Communicator& tp() { return *tp_; }
  std::vector<Parameter>& parameters() { return params_; }
  const std::vector<Parameter>& parameters() const { return params_; }

  void load(const SafetensorsCheckpoint& ckpt) { load_parameters(params_, ckpt); }
  void init_random(uint64_t seed, float std = 0.02f) { init_parameters(params_, seed, std); }

  // Every gradient, in one f32 block (zero padding between tensors): for data-parallel reductions.
  Tensor grad_block() const;
  // Every weight, in one block of the compute dtype; with f32 weights laid out exactly as grad_block() (ZeRO-1
  // all-gathers updated shards into it).
  Tensor param_block() const;
  void zero_grads();
  // Completes gradients that are partial sums over the TP group (the per-head norms). Call once per optimizer
  // step, after the last micro-batch.
  void finish_gradients();

  // Training: forward and backward over a micro-batch; parameter gradients accumulate (+=) the gradient of
  // grad_scale * (sum of token losses). Activations are planned for the largest batch seen (or reserved).
  LossSum forward_backward(const TokenBatch& batch, float grad_scale);
  LossSum forward_loss(const TokenBatch& batch);  // no gradients
  void reserve_training(int64_t max_tokens);

  // This rank's logits [N, V_local] (f32, on the model's device) for every position of the batch.
  Tensor forward_logits(const TokenBatch& batch);
  // Appends `tokens` to the sequence in `cache` and returns the logits [1, V_local] after its last token.
  Tensor forward_step(const std::vector<int32_t>& tokens, KvCache& cache);
  KvCache new_kv_cache(int64_t capacity) const;
  // The serving engine's step: appends each sequence's new tokens to the paged cache and returns this rank's logits
  // [logit_rows, V_local] (f32, on the model's device) after the tokens step.logit_rows names.
  Tensor forward_paged(const PagedStep& step, PagedKvCache& cache);
  PagedKvCache new_paged_kv_cache(int64_t num_blocks, int64_t block_size) const;

 private:
  friend class GreedyDecoder;  // records forward() with buffers of its own (model/greedy_decoder.h)

  // Where a decoding pass keeps keys and values: one sequence's KvCache or the paged pool (null both in training
  // and scoring, which attend within the batch).
  struct DecodeCache {
    KvCache* sequence = nullptr;
    PagedKvCache* paged = nullptr;
  };
  // Runs the decoder over the batch and leaves the final normalised hidden states in bufs.final_norm.
  void forward(const DeviceBatch& b, ForwardBuffers& bufs, DecodeCache cache);
  // Checks and uploads the batch into `b`, runs the forward pass without keeping activations for backward.
  ForwardBuffers& forward_inference(const TokenBatch& batch, DeviceBatch& b);
  // Where a layer's output goes: the residual stream, and the RMSNorm that reads it next (the next layer's input
  // norm or the final norm), formed in the same pass as the residual add that ends the layer.
  struct LayerOutput {
    Tensor resid;
    Tensor norm, norm_rstd;
    Tensor norm_weight;
  };
  // With `out`, a.ln1 already holds the norm of x (formed by the pass that wrote x) and the layer ends by writing
  // *out. out == nullptr is recomputation: ln1 is formed here and the layer stops after the MLP activation, all
  // that the backward pass reads.
  void layer_forward(int64_t l, const DeviceBatch& b, LayerActivations a, const Tensor& x, const LayerOutput* out,
                     DecodeCache cache);
  void layer_backward(int64_t l, const DeviceBatch& b, const LayerActivations& a, const Tensor& x, BackwardScratch s);
  ForwardBuffers& inference_buffers(int64_t n);
  LmHeadScratch& lm_scratch(int64_t n);

  Qwen3Config config_;
  ModelOptions options_;
  Qwen3LocalDims dims_;
  std::unique_ptr<Communicator> own_tp_;  // the single-process group when options.tp is null
  Communicator* tp_;
  Qwen3Weights weights_, grads_;
  std::shared_ptr<void> weight_block_, grad_block_;
  size_t weight_bytes_ = 0, grad_bytes_ = 0;
  std::vector<Parameter> params_;
  Tensor rope_;  // cos/sin table [max_positions, head_dim] on the device
  ForwardBuffers train_bufs_, infer_bufs_;
  LmHeadScratch lm_scratch_;
};

}  // namespace stepwise
