// ServedModel: a model this server answers for: its weights, tokenizer and chat template (when the folder has
// them), and the serving engine with the thread that runs it (ServingEngine::serve).
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

struct ServedModel {
  std::string name;
  std::string dir;
  std::unique_ptr<Qwen3Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null: token ids only
  std::unique_ptr<ChatTemplate> chat;    // null: no Qwen3 chat template
  std::unique_ptr<ServingEngine> engine;

  // Loads dir (config.json, weights, and tokenizer.json / tokenizer_config.json when present) on this process
  // and starts the engine's thread. `name` empty: the folder's name.
  static std::unique_ptr<ServedModel> load(const std::string& dir, const std::string& name,
                                           const EngineOptions& options);
  // Ends the engine thread once nothing is in flight (cancel what must not finish first).
  void shut_down();
  ~ServedModel();

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace stepwise::serve
