// ServedModel: loading a model folder for serving, and the engine thread.
#include "serve/served_model.h"

#include <glog/logging.h>

#include <filesystem>

#include "core/status.h"
#include "model/hf_model.h"

namespace stepwise::serve {

std::unique_ptr<ServedModel> ServedModel::load(const std::string& dir, const std::string& name,
                                               const EngineOptions& options) {
  auto m = std::make_unique<ServedModel>();
  m->dir = dir;
  m->name = name.empty() ? std::filesystem::path(dir).lexically_normal().filename().string() : name;
  if (m->name.empty()) m->name = std::filesystem::absolute(dir).lexically_normal().parent_path().filename().string();
  m->model = load_hf_model(dir, ModelOptions{});
  if (std::filesystem::exists(dir + "/tokenizer.json")) {
    m->tokenizer = std::make_unique<Tokenizer>(Tokenizer::load(dir));
    try {
      m->chat = std::make_unique<ChatTemplate>(*m->tokenizer);
    } catch (const StatusError& e) {
      LOG(WARNING) << "model '" << m->name << "': no chat requests (" << e.what() << ")";
    }
  } else {
    LOG(WARNING) << "model '" << m->name << "': " << dir
                 << " has no tokenizer.json; only prompt_ids requests are served";
  }
  m->engine = std::make_unique<ServingEngine>(*m->model, m->tokenizer.get(), options);
  ServedModel* raw = m.get();
  m->thread_ = std::thread([raw] {
    try {
      raw->engine->serve(raw->stop_);
    } catch (const std::exception& e) {
      LOG(FATAL) << "model '" << raw->name << "': the serving engine failed: " << e.what();
    }
  });
  const EngineStats s = m->engine->stats();
  LOG(INFO) << "model '" << m->name << "' ready: " << m->model->config().num_parameters() << " parameters, "
            << s.num_blocks << " KV blocks of " << s.block_size << " tokens";
  return m;
}

void ServedModel::shut_down() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

ServedModel::~ServedModel() { shut_down(); }

}  // namespace stepwise::serve
