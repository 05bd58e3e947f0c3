// Checkpoint directories: .tmp then rename, manifests with checksums, listing and pruning.
#include "io/checkpoint_dir.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/status.h"
#include "io/atomic_file.h"
#include "io/contained_path.h"
#include "io/hash.h"
#include "io/json_file.h"

namespace stepwise {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "step-";
constexpr const char* kTmpSuffix = ".tmp";

// The step of a complete checkpoint's directory name, or -1.
int64_t step_of(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return -1;
  const std::string digits = name.substr(std::string(kPrefix).size());
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

}  // namespace

std::string checkpoint_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%08lld", kPrefix, static_cast<long long>(step));
  return buf;
}

std::vector<std::string> list_checkpoints(const std::string& root) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return {};
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const int64_t step = step_of(entry.path().filename().string());
    if (step >= 0 && entry.is_directory()) found.emplace_back(step, entry.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

std::string resolve_checkpoint_dir(const std::string& path) {
  std::error_code ec;
  if (fs::exists(path + "/manifest.json", ec)) return path;
  for (const std::string& root : {path + "/checkpoints", path}) {
    const std::vector<std::string> all = list_checkpoints(root);
    if (!all.empty()) return all.back();
  }
  fail(StatusCode::kNotFound, "no checkpoint at ", path, " (expected a checkpoint directory with manifest.json, ",
       "or a run directory whose checkpoints/ holds step-* directories)");
}

std::string checkpoint_tmp_dir(const std::string& root, int64_t step) {
  return root + "/" + checkpoint_dir_name(step) + kTmpSuffix;
}

std::string begin_checkpoint(const std::string& root, int64_t step) {
  std::error_code ec;
  fs::create_directories(root, ec);
  const std::string tmp = checkpoint_tmp_dir(root, step);
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec)) fail(StatusCode::kUnavailable, "cannot create checkpoint directory ", tmp,
                                           ": ", ec.message());
  return tmp;
}

const char* checksum_name(ChecksumKind kind) { return kind == ChecksumKind::kXxh3 ? "xxh3" : "fnv1a64"; }

uint64_t file_checksum(ChecksumKind kind, const std::string& path) {
  return kind == ChecksumKind::kXxh3 ? xxh3_64_file(path) : fnv1a64_file(path);
}

CheckpointFile describe_checkpoint_file(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  CheckpointFile f;
  f.name = name;
  f.bytes = static_cast<int64_t>(fs::file_size(path));
  f.hash = xxh3_64_file(path);
  return f;
}

nlohmann::json checkpoint_files_json(const std::vector<CheckpointFile>& files) {
  nlohmann::json out = nlohmann::json::array();
  for (const CheckpointFile& f : files) {
    nlohmann::json j = {{"name", f.name}, {"bytes", f.bytes}, {checksum_name(f.checksum), hash_hex(f.hash)}};
    if (f.rank >= 0) j["rank"] = f.rank;
    if (!f.host.empty()) j["host"] = f.host;
    out.push_back(std::move(j));
  }
  return out;
}

std::vector<CheckpointFile> parse_checkpoint_files(const nlohmann::json& files, const std::string& dir,
                                                   const std::string& path) {
  std::vector<CheckpointFile> out;
  try {
    for (const auto& f : files) {
      const std::string entry = "files[" + std::to_string(out.size()) + "]";
      CheckpointFile c;
      c.name = f.at("name").get<std::string>();
      contained_path(dir, c.name, path, entry + ".name");
      c.bytes = f.at("bytes").get<int64_t>();
      c.checksum = f.contains("xxh3") ? ChecksumKind::kXxh3 : ChecksumKind::kFnv1a64;
      const char* key = checksum_name(c.checksum);
      c.hash = parse_hash_hex(f.at(key).get<std::string>(), path + ": " + entry + "." + key);
      c.rank = f.value("rank", -1);
      c.host = f.value("host", "");
      out.push_back(std::move(c));
    }
  } catch (const nlohmann::json::exception& e) {
    fail(StatusCode::kDataLoss, path, ": malformed files list (", e.what(), ")");
  }
  return out;
}

nlohmann::json checkpoint_manifest_json(const CheckpointManifest& m) {
  return {{"format", "stepwise-checkpoint"},
          {"version", kCheckpointFormatVersion},
          {"step", m.step},
          {"tokens_seen", m.tokens_seen},
          {"layout", {{"tp", m.tp}, {"dp", m.dp}, {"zero1", m.zero1}}},
          {"model_config", m.model_config},
          {"trainer", m.trainer},
          {"files", checkpoint_files_json(m.files)}};
}

std::string commit_checkpoint(const std::string& root, const std::string& tmp_dir,
                              const CheckpointManifest& m) {
  const nlohmann::json j = checkpoint_manifest_json(m);
  write_file_atomic(tmp_dir + "/manifest.json", j.dump(2) + "\n");
  const std::string final_dir = root + "/" + checkpoint_dir_name(m.step);
  std::error_code ec;
  fs::remove_all(final_dir, ec);  // an earlier run's checkpoint of the same step (a restart from an older one)
  fs::rename(tmp_dir, final_dir, ec);
  if (ec) fail(StatusCode::kUnavailable, "cannot rename ", tmp_dir, " to ", final_dir, ": ", ec.message());
  fsync_directory(root);
  return final_dir;
}

void prune_checkpoints(const std::string& root, int64_t keep) {
  std::error_code ec;
  const std::vector<std::string> all = list_checkpoints(root);
  for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i) fs::remove_all(all[i], ec);
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) == 0 && name.size() > 4 && name.compare(name.size() - 4, 4, kTmpSuffix) == 0)
      fs::remove_all(entry.path(), ec);
  }
}

CheckpointManifest read_checkpoint_manifest(const std::string& dir) {
  const std::string path = dir + "/manifest.json";
  const nlohmann::json j = read_json_file(path, StatusCode::kDataLoss);
  CheckpointManifest m;
  try {
    if (j.at("format") != "stepwise-checkpoint")
      fail(StatusCode::kDataLoss, path, ": not a stepwise checkpoint manifest");
    if (j.at("version") != 1 && j.at("version") != kCheckpointFormatVersion)
      fail(StatusCode::kDataLoss, path, ": checkpoint format version ", j.at("version").dump(),
           "; this stepwise reads versions 1 to ", kCheckpointFormatVersion, " (a newer stepwise wrote it?)");
    m.step = j.at("step").get<int64_t>();
    m.tokens_seen = j.at("tokens_seen").get<int64_t>();
    m.tp = j.at("layout").at("tp").get<int>();
    m.dp = j.at("layout").at("dp").get<int>();
    m.zero1 = j.at("layout").at("zero1").get<bool>();
    m.model_config = j.at("model_config");
    m.trainer = j.at("trainer");
    m.files = parse_checkpoint_files(j.at("files"), dir, path);
  } catch (const nlohmann::json::exception& e) {
    fail(StatusCode::kDataLoss, path, ": malformed manifest (", e.what(), ")");
  }
  return m;
}

const CheckpointFile& find_checkpoint_file(const CheckpointManifest& m, const std::string& dir,
                                           const std::string& name) {
  for (const CheckpointFile& f : m.files)
    if (f.name == name) return f;
  fail(StatusCode::kDataLoss, dir, "/manifest.json lists no file ", name,
       " (written by another TP x DP layout?)");
}

void verify_checkpoint_file(const std::string& dir, const CheckpointFile& file, const std::string& advice) {
  const std::string path = contained_path(dir, file.name, dir + "/manifest.json", "files entry");
  std::error_code ec;
  const auto bytes = fs::file_size(path, ec);
  if (ec) fail(StatusCode::kDataLoss, path, " is listed in the manifest but cannot be read (", ec.message(), ")");
  const std::string what_to_do =
      advice.empty() ? "; the checkpoint is damaged: resume from an older one (move this directory away)" : advice;
  if (static_cast<int64_t>(bytes) != file.bytes)
    fail(StatusCode::kDataLoss, path, " has ", bytes, " bytes, the manifest says ", file.bytes, what_to_do);
  const uint64_t got = file_checksum(file.checksum, path);
  if (got != file.hash)
    fail(StatusCode::kDataLoss, path, ": checksum mismatch (", checksum_name(file.checksum), " ", hash_hex(got),
         ", manifest ", hash_hex(file.hash), ")", what_to_do);
}

std::string encode_tensor_shard_info(const TensorShardInfo& info) {
  std::ostringstream os;
  os << info.dim << " " << info.start << " ";
  for (size_t i = 0; i < info.full_shape.size(); ++i) os << (i ? "x" : "") << info.full_shape[i];
  return os.str();
}

TensorShardInfo decode_tensor_shard_info(const std::string& text, const std::string& where) {
  TensorShardInfo info;
  std::istringstream in(text);
  std::string shape;
  if (!(in >> info.dim >> info.start >> shape) || info.dim < -1 || info.dim > 1)
    fail(StatusCode::kDataLoss, where, ": malformed shard layout '", text, "'");
  std::istringstream dims(shape);
  std::string d;
  while (std::getline(dims, d, 'x')) {
    try {
      info.full_shape.push_back(std::stoll(d));
    } catch (const std::exception&) {
      fail(StatusCode::kDataLoss, where, ": malformed shard layout '", text, "'");
    }
  }
  // The reader places the shard at `start` along `dim` of the full tensor: both must lie inside it.
  const bool dims_ok = std::all_of(info.full_shape.begin(), info.full_shape.end(), [](int64_t n) { return n >= 0; });
  const bool place_ok = info.dim < 0 ? info.start == 0
                                     : info.dim < static_cast<int>(info.full_shape.size()) && info.start >= 0 &&
                                           info.start <= info.full_shape[static_cast<size_t>(info.dim)];
  if (!dims_ok || !place_ok)
    fail(StatusCode::kDataLoss, where, ": shard layout '", text, "' places the shard outside the full tensor");
  return info;
}

std::string model_shard_file_name(int tp_rank) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-tp%02d.safetensors", tp_rank);
  return buf;
}

std::string optimizer_shard_file_name(int tp_rank, int dp_rank) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "optimizer-tp%02d-dp%02d.safetensors", tp_rank, dp_rank);
  return buf;
}

}  // namespace stepwise
