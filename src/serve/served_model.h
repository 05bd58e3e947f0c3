// ServedModel: the model a worker group serves: its weights (this rank's shard under TP), tokenizer and chat
// template (when the folder has them), and the serving engine with, on TP rank 0, the thread that runs it
// (ServingEngine::serve; the other ranks run ServingEngine::run_peer).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "infer/engine.h"
#include "model/qwen3.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace stepwise::serve {

// The name a model folder is served under: `name`, else the folder's name.
std::string served_model_name(const std::string& dir, const std::string& name);

struct ServedModel {
  std::string name;
  std::string dir;
  std::unique_ptr<Qwen3Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null: token ids only
  std::unique_ptr<ChatTemplate> chat;    // null: no Qwen3 chat template
  std::unique_ptr<ServingEngine> engine;

  // Loads dir (config.json, weights, and tokenizer.json / tokenizer_config.json when present) on this rank and
  // builds the engine. `name` empty: the folder's name. `tp`: this rank's TP group (null: the whole model).
  // `accumulation`: the CPU backend's sums (f64, the reference, or f32).
  static std::unique_ptr<ServedModel> load(
      const std::string& dir, const std::string& name, const EngineOptions& options, Communicator* tp = nullptr,
      kernels::CpuAccumulation accumulation = kernels::CpuAccumulation::kFloat64);
  // TP rank 0: starts the engine's thread.
  void start();
  // Ends the engine thread once nothing is in flight (cancel what must not finish first); under TP this shuts the
  // peers down.
  void shut_down();
  ~ServedModel();

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace stepwise::serve
