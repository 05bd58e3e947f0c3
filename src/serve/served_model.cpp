// ServedModel: loading a model folder for serving, and the engine thread.
#include "serve/served_model.h"

#include <glog/logging.h>

#include <filesystem>

#include "core/status.h"
#include "model/hf_model.h"

namespace stepwise::serve {

std::string served_model_name(const std::string& dir, const std::string& name) {
  if (!name.empty()) return name;
  const std::string folder = std::filesystem::path(dir).lexically_normal().filename().string();
  if (!folder.empty()) return folder;
  return std::filesystem::absolute(dir).lexically_normal().parent_path().filename().string();  // "dir/"
}

std::unique_ptr<ServedModel> ServedModel::load(const std::string& dir, const std::string& name,
                                               const EngineOptions& options, Communicator* tp,
                                               kernels::CpuAccumulation accumulation) {
  auto m = std::make_unique<ServedModel>();
  m->dir = dir;
  m->name = served_model_name(dir, name);
  ModelOptions model_options;
  model_options.tp = tp;
  model_options.cpu_accumulation = accumulation;
  m->model = load_hf_model(dir, model_options);
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
  const EngineStats s = m->engine->stats();
  LOG(INFO) << "model '" << m->name << "' loaded: " << m->model->config().num_parameters() << " parameters, "
            << s.num_blocks << " KV blocks of " << s.block_size << " tokens";
  return m;
}

void ServedModel::start() {
  thread_ = std::thread([this] {
    try {
      engine->serve(stop_);
    } catch (const std::exception& e) {
      LOG(FATAL) << "model '" << name << "': the serving engine failed: " << e.what();
    }
  });
}

void ServedModel::shut_down() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

ServedModel::~ServedModel() { shut_down(); }

}  // namespace stepwise::serve
