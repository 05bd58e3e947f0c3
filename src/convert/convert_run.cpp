// The conversion on every rank: shares of the input checks and of the output files, the .partial directory, the
// manifest, the rename; and the checker of a written checkpoint.
#include "convert/convert_run.h"

#include <sys/statvfs.h>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "convert/shard_writer.h"
#include "core/status.h"
#include "io/atomic_file.h"
#include "io/hash.h"
#include "io/json_file.h"
#include "io/os_error.h"
#include "train/progress.h"

namespace stepwise {

const char* const kHfManifestName = "stepwise-manifest.json";

namespace fs = std::filesystem;

namespace {

constexpr int kHostWords = 16;  // a host name travels as 64 bytes

std::string host_name() {
  char buf[kHostWords * 4 + 1] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

// A /proc/self/status field in bytes (VmRSS, VmHWM); 0 where there is none.
int64_t status_bytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1)) * 1024;
  return 0;
}

struct Hosts {
  std::vector<std::string> of_rank;
  std::vector<int> first_ranks;  // the lowest rank on each host, ascending
};

Hosts gather_hosts(const ProcessGrid& grid) {
  std::vector<int32_t> words(kHostWords, 0);
  const std::string me = host_name();
  std::memcpy(words.data(), me.data(), std::min(me.size(), sizeof(int32_t) * kHostWords - 1));
  const std::vector<int32_t> all = gather_from_every_rank(grid, words);
  Hosts h;
  for (int r = 0; r < grid.world_size; ++r) {
    char buf[kHostWords * 4 + 1] = {0};
    std::memcpy(buf, &all[static_cast<size_t>(r) * kHostWords], kHostWords * 4);
    h.of_rank.emplace_back(buf);
    if (std::find(h.of_rank.begin(), h.of_rank.end() - 1, h.of_rank.back()) == h.of_rank.end() - 1)
      h.first_ranks.push_back(r);
  }
  return h;
}

// `step` on each rank of `ranks` in turn, every rank waiting for each (file system steps that must not race when
// hosts share a disk).
void in_turn(const ProcessGrid& grid, const std::vector<int>& ranks, const std::function<void()>& step) {
  for (int r : ranks) {
    if (grid.world_rank == r) step();
    wait_for_every_rank(grid);
  }
}

// Whole files to ranks: largest first, each to the rank with the fewest bytes so far.
std::vector<int> assign_files(const std::vector<OutputFile>& files, int ranks) {
  std::vector<size_t> order(files.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return files[a].data_bytes() > files[b].data_bytes(); });
  std::vector<int64_t> load(static_cast<size_t>(ranks), 0);
  std::vector<int> owner(files.size(), 0);
  for (size_t i : order) {
    const int r = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[i] = r;
    load[static_cast<size_t>(r)] += files[i].data_bytes();
  }
  return owner;
}

void check_free_space(const std::string& dir, int64_t needed) {
  struct statvfs st;
  if (::statvfs(dir.c_str(), &st) != 0) return;  // unknown: the writes themselves report a full disk
  const int64_t avail = static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
  if (avail < needed)
    fail(StatusCode::kResourceExhausted, "convert: ", dir, " has ", avail, " bytes free; this host's share of the ",
         "output is ", needed, " bytes: free space or choose another --output");
}

void fsync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_os_error("cannot open", path, errno);
  const int rc = ::fsync(fd), err = errno;
  ::close(fd);
  if (rc != 0) fail_os_error("cannot fsync", path, err);
}

std::string gb(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GB", static_cast<double>(bytes) / 1e9);
  return buf;
}

// The small files of a Hugging Face output, written by the first rank of each host (the same bytes everywhere).
std::vector<std::string> write_hf_side_files(const std::string& dir, const ConvertSource& src,
                                             const std::vector<OutputFile>& files, const std::string& tokenizer) {
  std::vector<std::string> names = {"config.json"};
  write_file_atomic(dir + "/config.json", src.config_json.dump(2) + "\n");
  if (files.size() > 1) {
    int64_t total = 0;
    nlohmann::ordered_json map = nlohmann::ordered_json::object();
    for (const OutputFile& f : files) {
      total += f.data_bytes();
      for (const OutputTensor& t : f.tensors) map[t.name] = f.name;
    }
    const nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}}, {"weight_map", map}};
    write_file_atomic(dir + "/model.safetensors.index.json", index.dump(2) + "\n");
    names.push_back("model.safetensors.index.json");
  }
  // Tokenizer and generation settings: from --tokenizer, else those beside a Hugging Face input.
  const std::string from = !tokenizer.empty() ? tokenizer
                           : src.format == CheckpointFormat::kHuggingFace ? src.dir
                                                                          : "";
  for (const char* name : {"generation_config.json", "tokenizer.json", "tokenizer_config.json",
                           "special_tokens_map.json", "vocab.json", "merges.txt", "chat_template.jinja"}) {
    std::error_code ec;
    if (from.empty() || !fs::is_regular_file(from + "/" + name, ec)) continue;
    std::ifstream in(from + "/" + name, std::ios::binary);
    write_file_atomic(dir + "/" + name, std::string(std::istreambuf_iterator<char>(in), {}));
    names.emplace_back(name);
  }
  if (!tokenizer.empty() && std::find(names.begin(), names.end(), "tokenizer.json") == names.end())
    fail(StatusCode::kNotFound, "convert: --tokenizer ", tokenizer, " has no tokenizer.json");
  return names;
}

}  // namespace

ConvertReport run_convert(const ConvertOptions& o, const ProcessGrid& grid) {
  const auto start = std::chrono::steady_clock::now();
  ConvertReport report;
  const int64_t baseline = status_bytes("VmRSS");
  std::string output = o.output;
  while (output.size() > 1 && output.back() == '/') output.pop_back();
  if (output.empty()) invalid_argument("convert: --output is empty");

  const ConvertSource src = open_convert_source(o.input);
  report.input_dir = src.dir;
  report.input_format = checkpoint_format_name(src.format);
  const std::vector<CheckpointFile> checked = source_checksummed_files(src);
  for (size_t i = 0; i < checked.size(); ++i)
    if (static_cast<int>(i % static_cast<size_t>(grid.world_size)) == grid.world_rank)
      verify_checkpoint_file(src.dir, checked[i], "; the input is damaged: convert an older checkpoint of the run");

  ConvertTarget target = o.target;
  target.ranks = grid.world_size;
  if (!target.zero1) target.zero1 = src.manifest && src.manifest->zero1;
  report.zero1 = *target.zero1;
  const std::vector<OutputFile> files = target.format == CheckpointFormat::kNative ? plan_native_files(src, target)
                                                                                   : plan_hf_files(src, target);
  const std::vector<int> owner = assign_files(files, grid.world_size);
  const Hosts hosts = gather_hosts(grid);
  const std::string& my_host = hosts.of_rank[static_cast<size_t>(grid.world_rank)];
  const bool host_first = std::count(hosts.first_ranks.begin(), hosts.first_ranks.end(), grid.world_rank) > 0;

  std::error_code ec;
  if (fs::exists(output, ec) && !o.overwrite)
    fail(StatusCode::kFailedPrecondition, "convert: ", output, " already exists: choose another --output, or pass ",
         "--overwrite to replace it once the new one is complete");
  const std::string partial = output + ".partial";
  in_turn(grid, hosts.first_ranks, [&] { fs::remove_all(partial, ec); });  // a killed run's leftovers
  fs::create_directories(partial, ec);
  if (!fs::is_directory(partial)) fail(StatusCode::kUnavailable, "convert: cannot create ", partial, ": ", ec.message());
  wait_for_every_rank(grid);
  if (host_first) {
    int64_t needed = 0;
    for (size_t i = 0; i < files.size(); ++i)
      if (hosts.of_rank[static_cast<size_t>(owner[i])] == my_host) needed += files[i].data_bytes();
    check_free_space(partial, needed);
  }

  // This rank's files.
  int64_t mine = 0, done = 0;
  for (size_t i = 0; i < files.size(); ++i)
    if (owner[i] == grid.world_rank) mine += files[i].data_bytes();
  std::unique_ptr<ProgressBar> bar;
  if (o.progress && grid.is_root() && mine > 0)
    bar = std::make_unique<ProgressBar>("convert (rank 0's " + gb(mine) + " of " + std::to_string(grid.world_size) +
                                            " ranks' files)",
                                        static_cast<double>(mine), stderr, 5.0);
  ShardWriter writer(src, o.buffer_bytes);
  std::vector<int32_t> words(files.size() * 4, 0);
  for (size_t i = 0; i < files.size(); ++i) {
    if (owner[i] != grid.world_rank) continue;
    const std::string path = partial + "/" + files[i].name;
    const WrittenFile w = writer.write(path, files[i], [&](int64_t bytes) {
      if (!bar) return;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      char rate[32];
      std::snprintf(rate, sizeof rate, "%.2f GB/s", static_cast<double>(done + bytes) / 1e9 / std::max(s, 1e-3));
      bar->update(static_cast<double>(done + bytes), gb(done + bytes) + ", " + rate);
    });
    done += files[i].data_bytes();
    // Tests of crash safety: STEPWISE_TEST_KILL_DURING_CONVERT=1 kills the rank after its first file.
    if (const char* kill = std::getenv("STEPWISE_TEST_KILL_DURING_CONVERT"); kill && std::string(kill) == "1")
      std::raise(SIGKILL);
    std::memcpy(&words[i * 4], &w.bytes, sizeof w.bytes);
    std::memcpy(&words[i * 4 + 2], &w.xxh3, sizeof w.xxh3);
  }
  // Durable, then read back: what the disk returns is what was hashed while writing.
  for (size_t i = 0; i < files.size(); ++i) {
    if (owner[i] != grid.world_rank) continue;
    const std::string path = partial + "/" + files[i].name;
    fsync_file(path);
    uint64_t written;
    std::memcpy(&written, &words[i * 4 + 2], sizeof written);
    const uint64_t back = xxh3_64_file(path);
    if (back != written)
      fail(StatusCode::kDataLoss, path, ": reads back with XXH3 ", hash_hex(back), " after writing ", hash_hex(written),
           ": the disk or file system lost data; convert again, elsewhere");
  }
  if (bar) bar->finish(gb(mine));
  const std::vector<int32_t> all = gather_from_every_rank(grid, words);  // also: every rank has written its files

  std::vector<CheckpointFile> listed;
  for (size_t i = 0; i < files.size(); ++i) {
    const int r = owner[i];
    CheckpointFile f;
    f.name = files[i].name;
    const size_t at = (static_cast<size_t>(r) * files.size() + i) * 4;
    std::memcpy(&f.bytes, &all[at], sizeof f.bytes);
    std::memcpy(&f.hash, &all[at + 2], sizeof f.hash);
    f.rank = r;
    f.host = hosts.of_rank[static_cast<size_t>(r)];
    listed.push_back(f);
    report.bytes += f.bytes;
  }
  // The small files and the manifest, then the rename, host by host.
  in_turn(grid, hosts.first_ranks, [&] {
    std::vector<CheckpointFile> all_files = listed;
    if (target.format == CheckpointFormat::kNative) {
      write_file_atomic(partial + "/manifest.json",
                        checkpoint_manifest_json(native_manifest(src, target, all_files)).dump(2) + "\n");
    } else {
      for (const std::string& name : write_hf_side_files(partial, src, files, o.tokenizer)) {
        CheckpointFile f = describe_checkpoint_file(partial, name);
        f.rank = 0;  // every host writes the same bytes; the manifest names rank 0's copy
        f.host = hosts.of_rank[0];
        all_files.push_back(f);
      }
      const nlohmann::json manifest = {
          {"format", "stepwise-hf-manifest"}, {"version", 1}, {"files", checkpoint_files_json(all_files)}};
      write_file_atomic(partial + "/" + kHfManifestName, manifest.dump(2) + "\n");
    }
    fsync_directory(partial);
  });
  in_turn(grid, hosts.first_ranks, [&] {
    std::error_code e;
    if (!fs::exists(partial, e)) return;  // a disk shared with a host that renamed it already
    const std::string replaced = output + ".replaced";
    if (fs::exists(output, e)) {
      if (!o.overwrite) fail(StatusCode::kFailedPrecondition, "convert: ", output, " appeared while converting");
      fs::remove_all(replaced, e);
      fs::rename(output, replaced, e);
      if (e) fail(StatusCode::kUnavailable, "convert: cannot move ", output, " aside: ", e.message());
    }
    fs::rename(partial, output, e);
    if (e) fail(StatusCode::kUnavailable, "convert: cannot rename ", partial, " to ", output, ": ", e.message());
    fsync_directory(parent_directory(output));
    fs::remove_all(replaced, e);
  });

  report.files = static_cast<int>(files.size());
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::vector<int32_t> rss = gather_from_every_rank(
      grid, {static_cast<int32_t>(status_bytes("VmHWM") / 1024), static_cast<int32_t>(baseline / 1024)});
  for (int r = 0; r < grid.world_size; ++r) {
    report.peak_rss.push_back(int64_t{rss[static_cast<size_t>(2 * r)]} * 1024);
    report.baseline_rss.push_back(int64_t{rss[static_cast<size_t>(2 * r + 1)]} * 1024);
  }
  return report;
}

VerifyReport verify_converted(const std::string& dir) {
  std::vector<CheckpointFile> files;
  std::error_code ec;
  if (fs::exists(dir + "/manifest.json", ec)) {
    files = read_checkpoint_manifest(dir).files;
  } else if (fs::exists(dir + "/" + kHfManifestName, ec)) {
    const std::string path = dir + "/" + kHfManifestName;
    const nlohmann::json j = read_json_file(path, StatusCode::kDataLoss);
    if (!j.is_object() || j.value("format", "") != "stepwise-hf-manifest" || !j.contains("files"))
      fail(StatusCode::kDataLoss, path, ": not a stepwise-hf-manifest");
    files = parse_checkpoint_files(j.at("files"), dir, path);
  } else {
    fail(StatusCode::kNotFound, "convert --verify: ", dir, " has neither manifest.json (a checkpoint) nor ",
         kHfManifestName, " (a Hugging Face folder written by stepwise convert): nothing to verify against");
  }
  VerifyReport report;
  const std::string me = host_name();
  for (const CheckpointFile& f : files) {
    const std::string path = dir + "/" + f.name;
    if (!fs::exists(path, ec) && !f.host.empty() && f.host != me) {
      report.remote.push_back(f.name + " (rank " + std::to_string(f.rank) + " on " + f.host + ")");
      continue;
    }
    verify_checkpoint_file(dir, f, "; this copy is damaged or incomplete: convert it again");
    if (f.name.size() > 12 && f.name.compare(f.name.size() - 12, 12, ".safetensors") == 0)
      SafetensorsFile::open(path);  // the header checks
    ++report.checked;
  }
  return report;
}

}  // namespace stepwise
