// Reading Hugging Face folders and training checkpoints into a catalog of pieces; planning the output files.
#include "convert/checkpoint_layout.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/status.h"
#include "distributed/tensor_parallel.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "model/qwen3_partition.h"

namespace stepwise {

namespace fs = std::filesystem;

namespace {

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// Replicated tensors appear once per TP rank in a native checkpoint: identical regions are kept once.
void add_piece(ConvertSource& src, const std::string& logical, SourcePiece piece) {
  std::vector<SourcePiece>& list = src.pieces[logical];
  const TensorRegion& r = piece.region;
  for (const SourcePiece& p : list) {
    const TensorRegion& q = p.region;
    if (q.r0 == r.r0 && q.nr == r.nr && q.c0 == r.c0 && q.nc == r.nc && q.begin == r.begin && q.end == r.end) return;
  }
  list.push_back(std::move(piece));
}

SourcePiece stored_piece(const SafetensorsFile& file, const std::string& tensor, TensorRegion region) {
  const StTensorInfo& info = file.info(tensor);
  const std::string where = file.path() + " tensor " + tensor;
  if (!is_convertible_dtype(info.dtype))
    invalid_argument(where, " is ", st_dtype_name(info.dtype), "; convert reads F32, BF16 and F16 weights");
  if (shape_numel(info.shape) != region.numel())
    fail(StatusCode::kDataLoss, where, ": ", shape_str(info.shape), " holds ", shape_numel(info.shape),
         " elements, its layout says ", region.numel());
  return {region, &file, file.bytes(info), info.dtype, where};
}

const Qwen3TensorSpec* find_spec(const std::vector<Qwen3TensorSpec>& specs, const std::string& name) {
  for (const Qwen3TensorSpec& s : specs)
    if (s.name == name) return &s;
  return nullptr;
}

void open_hf(const std::string& path, const std::string& dir, ConvertSource& src) {
  src.format = CheckpointFormat::kHuggingFace;
  src.dir = dir;
  const std::string config_path = dir + "/config.json";
  if (!exists(config_path))
    fail(StatusCode::kNotFound, dir, " holds no config.json: a Hugging Face model folder has one beside its weights");
  src.config_json = read_json_file(config_path, StatusCode::kInvalidArgument);
  src.config = parse_qwen3_config(src.config_json, config_path);
  const auto ckpt = std::make_shared<SafetensorsCheckpoint>(SafetensorsCheckpoint::open(path));
  const std::vector<Qwen3TensorSpec> specs = qwen3_tensor_specs(src.config);
  for (const std::string& name : ckpt->names()) {
    const SafetensorsFile& file = ckpt->file_of(name);
    if (!find_spec(specs, name)) {
      if (name == "lm_head.weight" && src.config.tie_word_embeddings) continue;  // a copy of the embedding
      invalid_argument(file.path(), ": tensor '", name, "' is not a weight of the Qwen3 model config.json ",
                       "describes; convert would drop it (a different architecture, or a mismatched config.json?)");
    }
    add_piece(src, name, stored_piece(file, name, whole_region(file.info(name).shape)));
  }
  src.hf = ckpt;
}

// "optimizer-tp01-dp02.safetensors" -> (1, 2).
std::pair<int, int> optimizer_file_ranks(const std::string& name, const std::string& where) {
  int tp = -1, dp = -1;
  char tail[32] = {0};
  if (std::sscanf(name.c_str(), "optimizer-tp%d-dp%d%31s", &tp, &dp, tail) != 3 || std::string(tail) != ".safetensors")
    fail(StatusCode::kDataLoss, where, ": unexpected optimizer file name ", name);
  return {tp, dp};
}

// "m.model.norm.weight[128:256]" -> ("m.model.norm.weight", 128, 256); whole: (name, 0, numel).
void add_optimizer_tensor(ConvertSource& src, const SafetensorsFile& file, const std::string& tensor,
                          const std::vector<Qwen3TensorSpec>& specs, int tp_rank, int tp_size) {
  const std::string where = file.path() + " tensor " + tensor;
  const size_t dot = tensor.find('.');
  const std::string kind = dot == std::string::npos ? "" : tensor.substr(0, dot);
  if (kind != "m" && kind != "v" && kind != "master")
    fail(StatusCode::kDataLoss, where, ": not AdamW state (m., v. or master. + a parameter name)");
  std::string param = tensor.substr(dot + 1);
  int64_t begin = -1, end = -1;
  const size_t bracket = param.rfind('[');
  if (!param.empty() && param.back() == ']' && bracket != std::string::npos) {
    long long b = -1, e = -1;
    if (std::sscanf(param.c_str() + bracket, "[%lld:%lld]", &b, &e) != 2)
      fail(StatusCode::kDataLoss, where, ": malformed element range");
    begin = b;
    end = e;
    param.resize(bracket);
  }
  const Qwen3TensorSpec* spec = find_spec(specs, param);
  if (!spec) fail(StatusCode::kDataLoss, where, ": no parameter ", param, " in the manifest's model_config");
  const TpShard shard = tp_shard(spec->split, spec->full_shape, tp_rank, tp_size, spec->name);
  const TensorRegion block = shard_region(spec->full_shape, shard.dim, shard.start, shard.shape);
  if (begin < 0) {
    begin = 0;
    end = block.numel();
  }
  if (begin > end || end > block.numel())
    fail(StatusCode::kDataLoss, where, ": range ", begin, ":", end, " outside the ", block.numel(),
         "-element shard of ", param);
  add_piece(src, kind + "." + param, stored_piece(file, tensor, flat_range(block, begin, end)));
}

void open_native(const std::string& dir, ConvertSource& src) {
  src.format = CheckpointFormat::kNative;
  src.dir = dir;
  src.manifest = read_checkpoint_manifest(dir);
  const CheckpointManifest& m = *src.manifest;
  src.config = parse_qwen3_config(m.model_config, dir + "/manifest.json model_config");
  src.config_json = qwen3_config_to_json(src.config);
  const std::vector<Qwen3TensorSpec> specs = qwen3_tensor_specs(src.config);
  for (const CheckpointFile& f : m.files) {
    const auto file = std::shared_ptr<SafetensorsFile>(SafetensorsFile::open(dir + "/" + f.name));
    src.files.push_back(file);
    const auto& meta = file->metadata();
    if (meta.count("dp_rank")) {  // AdamW state (train/adamw.h)
      const auto [tp, dp] = optimizer_file_ranks(f.name, dir + "/manifest.json");
      const bool zero1 = meta.at("dp_size") != "1" && meta.count("zero1") && meta.at("zero1") == "1";
      if (dp != 0 && !zero1) continue;  // without ZeRO-1 every DP rank holds the same state
      if (tp == 0 && dp == 0) src.optimizer_step = std::stoll(meta.count("step") ? meta.at("step") : "0");
      for (const auto& [tensor, info] : file->tensors()) add_optimizer_tensor(src, *file, tensor, specs, tp, m.tp);
      continue;
    }
    for (const auto& [key, value] : meta) {  // a model shard: "shard.<name>" gives each tensor's place
      if (key.rfind("shard.", 0) != 0) continue;
      const std::string tensor = key.substr(6), where = file->path() + " tensor " + tensor;
      const TensorShardInfo at = decode_tensor_shard_info(value, where);
      const Shape stored = file->info(tensor).shape;
      if (stored.size() != at.full_shape.size() || (at.dim >= 0 && at.start + stored[at.dim] > at.full_shape[at.dim]))
        fail(StatusCode::kDataLoss, where, ": shard ", shape_str(stored), " does not fit ", shape_str(at.full_shape),
             " at ", value);
      add_piece(src, tensor, stored_piece(*file, tensor, shard_region(at.full_shape, at.dim, at.start, stored)));
    }
  }
}

// Every weight the config names, with its full shape.
void check_weights(const ConvertSource& src) {
  for (const Qwen3TensorSpec& s : qwen3_tensor_specs(src.config)) {
    const auto it = src.pieces.find(s.name);
    if (it == src.pieces.end())
      invalid_argument(src.dir, ": no tensor ", s.name, ", which the model's config requires (a checkpoint of ",
                       "another model, or an incomplete one?)");
    const TensorRegion& r = it->second.front().region;
    const TensorRegion want = whole_region(s.full_shape);
    if (r.rows != want.rows || r.cols != want.cols)
      invalid_argument(it->second.front().where, ": the full tensor is ", r.rows, "x", r.cols, ", the config makes ",
                       s.name, " ", shape_str(s.full_shape), " (config.json does not match the weights)");
  }
}

std::string weight_source(const ConvertSource& src, const std::string& name, StDType dtype) {
  // f32 out of a bf16 run: the f32 master weights, not their bf16 rounding.
  return dtype == StDType::kF32 && src.has("master." + name) ? "master." + name : name;
}

std::string optional_logical(const ConvertSource& src, const std::string& name) {
  return src.has(name) ? name : "";
}

}  // namespace

const char* checkpoint_format_name(CheckpointFormat format) {
  return format == CheckpointFormat::kHuggingFace ? "hf" : "native";
}

ConvertSource open_convert_source(const std::string& path) {
  ConvertSource src;
  std::error_code ec;
  const bool is_file = fs::is_regular_file(path, ec);
  if (!is_file && !fs::is_directory(path, ec)) fail(StatusCode::kNotFound, "convert: --input ", path, " does not exist");
  const std::string dir = is_file ? parent_directory(path) : path;
  if (!is_file && (exists(path + "/manifest.json") || !list_checkpoints(path + "/checkpoints").empty() ||
                   !list_checkpoints(path).empty()))
    open_native(resolve_checkpoint_dir(path), src);
  else if (is_file || exists(dir + "/model.safetensors") || exists(dir + "/model.safetensors.index.json"))
    open_hf(path, dir, src);
  else
    fail(StatusCode::kNotFound, "convert: ", path, " is neither a Hugging Face folder (model.safetensors or ",
         "model.safetensors.index.json) nor a stepwise checkpoint (manifest.json) or run directory (checkpoints/)");
  check_weights(src);
  return src;
}

std::vector<CheckpointFile> source_checksummed_files(const ConvertSource& source) {
  return source.manifest ? source.manifest->files : std::vector<CheckpointFile>{};
}

int64_t OutputFile::data_bytes() const {
  int64_t n = 0;
  for (const OutputTensor& t : tensors) n += shape_numel(t.shape) * static_cast<int64_t>(st_dtype_size(t.dtype));
  return n;
}

std::vector<OutputFile> plan_native_files(const ConvertSource& src, const ConvertTarget& target) {
  make_local_dims(src.config, 0, target.tp);  // heads, KV heads and the MLP must split evenly
  const std::vector<Qwen3TensorSpec> specs = qwen3_tensor_specs(src.config);
  const StDType dtype = target.dtype ? *target.dtype
                        : src.format == CheckpointFormat::kHuggingFace ? StDType::kF32
                                                                       : src.pieces.at(specs[0].name).front().dtype;
  const bool zero1 = target.zero1.value_or(false) && target.dp > 1;
  std::vector<OutputFile> files;
  for (int tp = 0; tp < target.tp; ++tp) {
    OutputFile f{model_shard_file_name(tp), {}, {}};
    f.metadata = {{"format", "stepwise-model-shard"}, {"tp_rank", std::to_string(tp)},
                  {"tp_size", std::to_string(target.tp)}};
    for (const Qwen3TensorSpec& s : specs) {
      const TpShard shard = tp_shard(s.split, s.full_shape, tp, target.tp, s.name);
      f.tensors.push_back({s.name, dtype, shard.shape, weight_source(src, s.name, dtype),
                           shard_region(s.full_shape, shard.dim, shard.start, shard.shape)});
      f.metadata["shard." + s.name] = encode_tensor_shard_info({shard.dim, shard.start, s.full_shape});
    }
    files.push_back(std::move(f));
  }
  for (int tp = 0; tp < target.tp; ++tp) {
    const Qwen3FlatLayout layout = qwen3_flat_layout(src.config, tp, target.tp, zero1 ? target.dp : 1);
    for (int dp = 0; dp < target.dp; ++dp) {
      OutputFile f{optimizer_shard_file_name(tp, dp), {}, {}};
      f.metadata = {{"step", std::to_string(src.optimizer_step.value_or(0))}, {"dp_rank", std::to_string(dp)},
                    {"dp_size", std::to_string(target.dp)}, {"zero1", zero1 ? "1" : "0"}};
      const int64_t slice = layout.total / target.dp;  // ZeRO-1: this DP rank's part of the flat block
      const int64_t first = zero1 ? dp * slice : 0, last = zero1 ? first + slice : layout.total;
      for (size_t i = 0; i < specs.size(); ++i) {
        const Qwen3TensorSpec& s = specs[i];
        const Qwen3FlatLayout::Entry& e = layout.entries[i];
        const int64_t lo = std::max(e.offset, first) - e.offset, hi = std::min(e.offset + e.numel, last) - e.offset;
        if (lo >= hi) continue;
        const TpShard shard = tp_shard(s.split, s.full_shape, tp, target.tp, s.name);
        const TensorRegion region = flat_range(shard_region(s.full_shape, shard.dim, shard.start, shard.shape), lo, hi);
        const std::string suffix =
            s.name + (lo == 0 && hi == e.numel ? "" : "[" + std::to_string(lo) + ":" + std::to_string(hi) + "]");
        f.tensors.push_back({"m." + suffix, StDType::kF32, {hi - lo}, optional_logical(src, "m." + s.name), region});
        f.tensors.push_back({"v." + suffix, StDType::kF32, {hi - lo}, optional_logical(src, "v." + s.name), region});
        if (dtype != StDType::kF32)
          f.tensors.push_back({"master." + suffix, StDType::kF32, {hi - lo},
                               src.has("master." + s.name) ? "master." + s.name : s.name, region});
      }
      files.push_back(std::move(f));
    }
  }
  return files;
}

std::vector<OutputFile> plan_hf_files(const ConvertSource& src, const ConvertTarget& target) {
  std::vector<OutputTensor> tensors;
  int64_t total = 0;
  for (const Qwen3TensorSpec& s : qwen3_tensor_specs(src.config)) {
    const StDType dtype = target.dtype.value_or(src.pieces.at(s.name).front().dtype);
    tensors.push_back({s.name, dtype, s.full_shape, weight_source(src, s.name, dtype), whole_region(s.full_shape)});
    total += shape_numel(s.full_shape) * static_cast<int64_t>(st_dtype_size(dtype));
  }
  // At most max_shard_bytes per file (a larger tensor alone in its file, as transformers does), and at least one
  // file per rank when there are tensors enough, so that every rank writes.
  const int64_t per_rank = (total + target.ranks - 1) / std::max(1, target.ranks);
  const int64_t limit = std::max<int64_t>(1, std::min(target.max_shard_bytes, per_rank));
  std::vector<OutputFile> files;
  int64_t in_file = 0;
  for (OutputTensor& t : tensors) {
    const int64_t bytes = shape_numel(t.shape) * static_cast<int64_t>(st_dtype_size(t.dtype));
    if (files.empty() || (in_file > 0 && in_file + bytes > limit)) {
      files.push_back({"", {}, {{"format", "pt"}}});
      in_file = 0;
    }
    files.back().tensors.push_back(std::move(t));
    in_file += bytes;
  }
  char name[64];
  for (size_t i = 0; i < files.size(); ++i) {
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, files.size());
    files[i].name = files.size() == 1 ? "model.safetensors" : name;
  }
  return files;
}

CheckpointManifest native_manifest(const ConvertSource& src, const ConvertTarget& target,
                                   std::vector<CheckpointFile> files) {
  CheckpointManifest m;
  if (src.manifest) {
    m.step = src.manifest->step;
    m.tokens_seen = src.manifest->tokens_seen;
    m.trainer = src.manifest->trainer;
  } else {  // a fresh start: no loader position, so that the trainer's own (seeded) one is used
    m.trainer = {{"loader", nullptr}, {"skipped_steps", 0}, {"consecutive_bad_steps", 0}};
  }
  m.tp = target.tp;
  m.dp = target.dp;
  m.zero1 = target.zero1.value_or(false);
  m.model_config = qwen3_config_to_json(src.config);
  m.files = std::move(files);
  return m;
}

}  // namespace stepwise
