// A training checkpoint: this rank's model and optimizer shards, rank 0's manifest, exact restore.
#include "train/training_checkpoint.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>

#include "core/status.h"
#include "io/safetensors.h"
#include "model/hf_export.h"

namespace stepwise {

namespace {

// Tests of crash safety (tests/train): STEPWISE_TEST_KILL_DURING_CHECKPOINT=N makes the process kill itself with
// SIGKILL right after writing its first file of step N's checkpoint, i.e. in the middle of that checkpoint.
void maybe_kill_for_test(int64_t step) {
  const char* v = std::getenv("STEPWISE_TEST_KILL_DURING_CHECKPOINT");
  if (v && std::strtoll(v, nullptr, 10) == step) std::raise(SIGKILL);
}

void write_model_shard(const std::string& path, const Qwen3Model& model, const ProcessGrid& grid) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> meta = {{"format", "stepwise-model-shard"},
                                             {"tp_rank", std::to_string(grid.tp_rank)},
                                             {"tp_size", std::to_string(grid.tp_size)}};
  for (const Parameter& p : model.parameters()) {
    tensors.emplace_back(p.name, p.value.is_cpu() ? p.value : p.value.to(Device::kCPU));
    meta["shard." + p.name] = encode_tensor_shard_info({p.shard_dim, p.shard_start, p.full_shape});
  }
  write_safetensors(path, tensors, meta);
}

void read_model_shard(const std::string& path, Qwen3Model& model) {
  const auto file = SafetensorsFile::open(path);
  for (Parameter& p : model.parameters())
    read_tensor_exact(*file, p.name, p.value, StatusCode::kInvalidArgument,
                      "saved for another model config or compute dtype?");
}

nlohmann::json trainer_json(const TrainerState& s) {
  return {{"loader", s.loader.to_json()},
          {"skipped_steps", s.skipped_steps},
          {"consecutive_bad_steps", s.consecutive_bad_steps}};
}

// Each rank checksums the files it wrote (in parallel: the reads and hashes of a large model's shards would
// otherwise all fall on rank 0) and every rank learns all of them: per world rank, the model shard (written by DP
// rank 0 only; zeros elsewhere) and the optimizer shard, each as (bytes, XXH3-64) in four int32 words.
std::vector<CheckpointFile> describe_written_files(const std::string& tmp, ProcessGrid& grid) {
  const std::string model_file = model_shard_file_name(grid.tp_rank);
  const std::string optim_file = optimizer_shard_file_name(grid.tp_rank, grid.dp_rank);
  std::vector<int32_t> mine(8, 0);
  const auto put = [&mine](int slot, const CheckpointFile& f) {
    const uint64_t bytes = static_cast<uint64_t>(f.bytes), hash = f.hash;
    std::memcpy(&mine[slot * 4], &bytes, sizeof bytes);
    std::memcpy(&mine[slot * 4 + 2], &hash, sizeof hash);
  };
  if (grid.dp_rank == 0) put(0, describe_checkpoint_file(tmp, model_file));
  put(1, describe_checkpoint_file(tmp, optim_file));
  const std::vector<int32_t> all = gather_from_every_rank(grid, mine);
  const int32_t* words = all.data();
  const auto get = [words](int world_rank, int slot, const std::string& name) {
    CheckpointFile f;
    f.name = name;
    uint64_t bytes = 0;
    std::memcpy(&bytes, &words[world_rank * 8 + slot * 4], sizeof bytes);
    std::memcpy(&f.hash, &words[world_rank * 8 + slot * 4 + 2], sizeof f.hash);
    f.rank = world_rank;
    f.bytes = static_cast<int64_t>(bytes);
    return f;
  };
  std::vector<CheckpointFile> files;  // the manifest's order: each TP rank's model shard, then its optimizer shards
  for (int tp = 0; tp < grid.tp_size; ++tp) {
    files.push_back(get(tp, 0, model_shard_file_name(tp)));
    for (int dp = 0; dp < grid.dp_size; ++dp)
      files.push_back(get(dp * grid.tp_size + tp, 1, optimizer_shard_file_name(tp, dp)));
  }
  return files;
}

}  // namespace

std::string save_checkpoint(const std::string& root, const TrainerState& state, const Qwen3Model& model,
                            const TrainerOptimizer& optimizer, ProcessGrid& grid, bool zero1, int64_t keep_last) {
  const std::string tmp = grid.is_root() ? begin_checkpoint(root, state.step) : checkpoint_tmp_dir(root, state.step);
  wait_for_every_rank(grid);  // the directory exists
  if (grid.dp_rank == 0) {  // the model is replicated over DP
    write_model_shard(tmp + "/" + model_shard_file_name(grid.tp_rank), model, grid);
    maybe_kill_for_test(state.step);
  }
  optimizer.save(tmp + "/" + optimizer_shard_file_name(grid.tp_rank, grid.dp_rank));
  const std::vector<CheckpointFile> files = describe_written_files(tmp, grid);  // also: every shard is written
  std::string final_dir;
  if (grid.is_root()) {
    CheckpointManifest m;
    m.step = state.step;
    m.tokens_seen = state.tokens_seen;
    m.tp = grid.tp_size;
    m.dp = grid.dp_size;
    m.zero1 = zero1;
    m.model_config = qwen3_config_to_json(model.config());
    m.trainer = trainer_json(state);
    m.files = files;
    final_dir = commit_checkpoint(root, tmp, m);
    prune_checkpoints(root, keep_last);
  }
  wait_for_every_rank(grid);  // committed: every rank may go on (and a later resume finds it)
  return grid.is_root() ? final_dir : root + "/" + checkpoint_dir_name(state.step);
}

TrainerState load_checkpoint(const std::string& dir, Qwen3Model& model, TrainerOptimizer& optimizer,
                             ProcessGrid& grid, bool zero1) {
  const CheckpointManifest m = read_checkpoint_manifest(dir);
  if (m.tp != grid.tp_size || m.dp != grid.dp_size || m.zero1 != zero1)
    invalid_argument(dir, " was written with tp ", m.tp, ", dp ", m.dp, ", zero1 ", m.zero1 ? "true" : "false",
                     "; this run has tp ", grid.tp_size, ", dp ", grid.dp_size, ", zero1 ", zero1 ? "true" : "false",
                     ": resume with the layout that wrote it");
  if (m.model_config != qwen3_config_to_json(model.config()))
    invalid_argument(dir, ": the checkpoint's model (manifest model_config) differs from the configured model; ",
                     "resume with the model.config that wrote it");
  const std::string model_file = model_shard_file_name(grid.tp_rank);
  const std::string optim_file = optimizer_shard_file_name(grid.tp_rank, grid.dp_rank);
  verify_checkpoint_file(dir, find_checkpoint_file(m, dir, model_file));
  verify_checkpoint_file(dir, find_checkpoint_file(m, dir, optim_file));
  read_model_shard(dir + "/" + model_file, model);
  optimizer.load(dir + "/" + optim_file);

  TrainerState s;
  s.step = m.step;
  s.tokens_seen = m.tokens_seen;
  const std::string where = dir + "/manifest.json trainer";
  try {
    s.loader_saved = !m.trainer.at("loader").is_null();
    if (s.loader_saved) s.loader = LoaderPosition::from_json(m.trainer.at("loader"), where);
    s.skipped_steps = m.trainer.at("skipped_steps").get<int64_t>();
    s.consecutive_bad_steps = m.trainer.at("consecutive_bad_steps").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    fail(StatusCode::kDataLoss, where, ": malformed trainer state (", e.what(), ")");
  }
  return s;
}

std::string latest_checkpoint(const std::string& root) {
  const std::vector<std::string> all = list_checkpoints(root);
  return all.empty() ? "" : all.back();
}

void load_weights_from_checkpoint(const std::string& dir, Qwen3Model& model) {
  const CheckpointWeights w = read_checkpoint_weights(resolve_checkpoint_dir(dir));
  if (qwen3_config_to_json(w.config) != qwen3_config_to_json(model.config()))
    invalid_argument(dir, ": the checkpoint's model differs from model.config; set model.config to the model it ",
                     "was trained with");
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : w.tensors) by_name[name] = &t;
  for (Parameter& p : model.parameters()) {
    const auto it = by_name.find(p.name);
    if (it == by_name.end()) fail(StatusCode::kDataLoss, dir, ": no tensor ", p.name);
    store_full(p, it->second->to_dtype(DType::kF32));
  }
}

}  // namespace stepwise
