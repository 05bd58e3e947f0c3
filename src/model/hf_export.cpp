// Assembling checkpoint shards into whole tensors and writing Hugging Face folders.
#include "model/hf_export.h"

#include <cstring>
#include <filesystem>
#include <map>

#include "core/status.h"
#include "io/atomic_file.h"
#include "io/checkpoint_dir.h"
#include "io/safetensors.h"

namespace stepwise {

namespace {

// Copies `part` into `full` at offset `start` along `dim` (0: rows, 1: columns; -1: the whole tensor).
void place_shard(Tensor& full, const uint8_t* part, const Shape& part_shape, int dim, int64_t start) {
  const size_t es = dtype_size(full.dtype());
  auto* dst = static_cast<uint8_t*>(full.data());
  if (dim <= 0) {  // rows (or everything): one contiguous block
    const int64_t row = full.ndim() > 1 ? full.size(1) : 1;
    std::memcpy(dst + static_cast<size_t>(start * row) * es, part, static_cast<size_t>(shape_numel(part_shape)) * es);
    return;
  }
  const int64_t rows = full.size(0), cols = full.size(1), width = part_shape[1];
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + static_cast<size_t>(r * cols + start) * es, part + static_cast<size_t>(r * width) * es,
                static_cast<size_t>(width) * es);
}

}  // namespace

CheckpointWeights read_checkpoint_weights(const std::string& dir) {
  const CheckpointManifest m = read_checkpoint_manifest(dir);
  CheckpointWeights out;
  out.config = parse_qwen3_config(m.model_config, dir + "/manifest.json model_config");
  std::map<std::string, size_t> index;  // name -> position in out.tensors
  for (int tp = 0; tp < m.tp; ++tp) {
    const std::string name = model_shard_file_name(tp);
    verify_checkpoint_file(dir, find_checkpoint_file(m, dir, name));
    const auto file = SafetensorsFile::open(dir + "/" + name);
    for (const auto& [key, value] : file->metadata()) {
      if (key.rfind("shard.", 0) != 0) continue;
      const std::string tensor = key.substr(6), where = file->path() + " tensor " + tensor;
      const TensorShardInfo layout = decode_tensor_shard_info(value, where);
      const StTensorInfo& info = file->info(tensor);
      const std::optional<DType> stored = tensor_dtype_of(info.dtype);
      if (!stored)
        fail(StatusCode::kDataLoss, where, ": unexpected dtype ", st_dtype_name(info.dtype), " in a model shard");
      const DType dtype = *stored;
      auto [it, fresh] = index.emplace(tensor, out.tensors.size());
      if (fresh) out.tensors.emplace_back(tensor, Tensor::zeros(layout.full_shape, dtype));
      Tensor& full = out.tensors[it->second].second;
      const bool fits = full.shape() == layout.full_shape && full.dtype() == dtype &&
                        static_cast<int>(info.shape.size()) == full.ndim() &&
                        (layout.dim < 0 ? info.shape == full.shape()
                                        : layout.start + info.shape[layout.dim] <= full.size(layout.dim));
      if (!fits) fail(StatusCode::kDataLoss, where, ": shard ", shape_str(info.shape), " does not fit ",
                      shape_str(layout.full_shape), " at ", value);
      if (layout.dim >= 0 || tp == 0) place_shard(full, file->bytes(info), info.shape, layout.dim, layout.start);
    }
  }
  if (out.tensors.empty()) fail(StatusCode::kDataLoss, dir, ": the model shards hold no tensors");
  return out;
}

void write_hf_model(const std::string& dir, const Qwen3Config& config,
                    const std::vector<std::pair<std::string, Tensor>>& tensors, std::optional<DType> dtype) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(StatusCode::kUnavailable, "cannot create ", dir, ": ", ec.message());
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, t] : tensors) {
    if (config.tie_word_embeddings && name == "lm_head.weight") continue;
    Tensor host = t.is_cpu() ? t : t.to(Device::kCPU);
    out.emplace_back(name, dtype && *dtype != host.dtype() ? host.to_dtype(*dtype) : host);
  }
  write_safetensors(dir + "/model.safetensors", out, {{"format", "pt"}});
  write_file_atomic(dir + "/config.json", qwen3_config_to_json(config).dump(2) + "\n");
}

std::string export_checkpoint_to_hf(const std::string& checkpoint, const std::string& out_dir,
                                    std::optional<DType> dtype) {
  const std::string dir = resolve_checkpoint_dir(checkpoint);
  const CheckpointWeights w = read_checkpoint_weights(dir);
  write_hf_model(out_dir, w.config, w.tensors, dtype);
  return dir;
}

void export_model_to_hf(const Qwen3Model& model, const std::string& out_dir, std::optional<DType> dtype) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const Parameter& p : model.parameters()) {
    if (p.shard_dim >= 0 && p.value.shape() != p.full_shape)
      invalid_argument("export_model_to_hf: ", p.name, " is a tensor-parallel shard; export the run's checkpoint ",
                       "(stepwise export --checkpoint DIR) instead");
    tensors.emplace_back(p.name, p.value);
  }
  write_hf_model(out_dir, model.config(), tensors, dtype);
}

}  // namespace stepwise
