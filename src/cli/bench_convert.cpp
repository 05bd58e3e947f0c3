// `stepwise bench convert`: checkpoint conversion throughput against `cp` of the same bytes on the same disk, in the
// same run. A synthetic Hugging Face model of --size (f32, sharded) is written to --dir; then, each timed with its
// fsync: `cp` of its shard files (and `sync`), and on one rank and under `mpirun -np N` for each N of --ranks:
// `stepwise convert` HF -> HF re-sharded (the same bytes out as in: the ratio to cp) and HF -> native (weights plus
// fresh AdamW moments: three times the bytes). Reported: GB/s of the bytes each writes, the ratio to cp's GB/s, and
// each convert's peak RSS per rank.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <regex>
#include <sstream>

#include "cli/benchmarks.h"
#include "cli/command_line.h"
#include "cli/flags.h"
#include "convert/synthetic_model.h"
#include "core/status.h"

namespace stepwise::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct ConvertBenchFlags {
  double size_gb = 2;
  std::string dir = "/tmp/stepwise-bench-convert", ranks = "2", buffer = "64MB";
};

struct Timed {
  double seconds = 0;
  std::string output;
};

Timed timed_shell(const std::string& command) {
  const Clock::time_point start = Clock::now();
  std::string output = run_capture(command + " 2>&1");
  return {seconds_since(start), std::move(output)};
}

double written_gb(const std::string& convert_output) {
  std::smatch m;
  static const std::regex re("files, ([0-9.]+) GB in");
  return std::regex_search(convert_output, m, re) ? std::stod(m[1]) : 0;
}

int64_t peak_mib(const std::string& convert_output) {
  std::smatch m;
  static const std::regex re("peak RSS per rank at most ([0-9]+) MiB");
  return std::regex_search(convert_output, m, re) ? std::stoll(m[1]) : -1;
}

int bench_convert(const ConvertBenchFlags& f) {
  namespace fs = std::filesystem;
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string mpirun = geteuid() == 0 ? "mpirun --oversubscribe --allow-run-as-root" : "mpirun --oversubscribe";
  fs::remove_all(f.dir);
  const std::string hf = f.dir + "/hf";
  std::printf("bench convert: writing a synthetic %.1f GB f32 model to %s\n", f.size_gb, hf.c_str());
  const int64_t bytes = write_synthetic_hf_model(hf, synthetic_qwen3_config(static_cast<int64_t>(f.size_gb * 1e9)),
                                                 500'000'000);
  const double gb = static_cast<double>(bytes) / 1e9;
  // The source is in the page cache for every candidate alike (just written, then read by cp first).
  const Timed cp = timed_shell("mkdir -p " + f.dir + "/cp && cp " + hf + "/*.safetensors " + f.dir + "/cp/ && sync");
  nlohmann::json result = {{"bytes", bytes}, {"cp_gb_s", gb / cp.seconds}};
  std::printf("%-34s %8.2f s  %6.3f GB/s\n", "cp + sync (baseline)", cp.seconds, gb / cp.seconds);
  fs::remove_all(f.dir + "/cp");
  std::vector<int> rank_counts = {1};
  std::istringstream list(f.ranks);
  for (std::string item; std::getline(list, item, ',');)
    if (!item.empty()) rank_counts.push_back(std::stoi(item));
  for (const char* to : {"hf", "native"})
    for (int ranks : rank_counts) {
      const std::string out = f.dir + "/" + to + "-" + std::to_string(ranks);
      const std::string args = " convert --no-progress --input " + hf + " --output " + out + " --format " + to +
                               " --buffer-size " + f.buffer + (std::string(to) == "hf" ? " --max-shard-size 1GB" : "");
      const std::string command = ranks == 1 ? self + args
                                             : mpirun + " -np " + std::to_string(ranks) + " -x OMP_NUM_THREADS=1 " +
                                                   self + args;
      const Timed t = timed_shell(command);
      const double out_gb = written_gb(t.output), rate = out_gb / t.seconds;
      const std::string label =
          std::string("convert hf -> ") + to + ", " + std::to_string(ranks) + " rank" + (ranks > 1 ? "s" : "");
      std::printf("%-34s %8.2f s  %6.3f GB/s of %.2f GB written  %.2fx cp  peak RSS/rank %lld MiB\n", label.c_str(),
                  t.seconds, rate, out_gb, rate / (gb / cp.seconds), static_cast<long long>(peak_mib(t.output)));
      result[std::string(to) + "_ranks_" + std::to_string(ranks)] = {
          {"gb_s", rate}, {"vs_cp", rate / (gb / cp.seconds)}, {"peak_rss_mib", peak_mib(t.output)}};
      fs::remove_all(out);
    }
  fs::remove_all(f.dir);
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace

void add_bench_convert(CommandLine& cli, CLI::App& bench) {
  auto flags = std::make_shared<ConvertBenchFlags>();
  CLI::App& command = add_command(
      bench, "convert", "checkpoint conversion GB/s against cp of the same bytes, on 1 and N ranks",
      "stepwise bench convert --size-gb 2 --ranks 2,4 --dir /tmp/bench-convert",
      "Writes a synthetic f32 model of --size-gb to --dir, then times cp of its files (with sync) and\n"
      "`stepwise convert` HF -> native on one rank and under mpirun -np N for each N of --ranks.");
  at_least(command.add_option("--size-gb", flags->size_gb, "the synthetic model's size")->capture_default_str(), 0.01);
  command.add_option("--dir", flags->dir, "scratch folder on the disk to measure (removed)")->capture_default_str();
  command.add_option("--ranks", flags->ranks, "rank counts besides 1, comma-separated")->capture_default_str();
  command.add_option("--buffer-size", flags->buffer, "convert's --buffer-size")->capture_default_str();
  cli.on_run(command, [flags] { return bench_convert(*flags); });
}

}  // namespace stepwise::cli
