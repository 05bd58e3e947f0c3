// Shared by the launcher tests: shell commands with a deadline, temporary files.
#include "launch_test_util.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace stepwise::launch_test {

namespace fs = std::filesystem;

ShellResult run_shell(const std::string& command, double timeout_s) {
  // timeout(1) runs the command in a process group of its own and signals the whole group: an mpirun and its
  // ranks, or a polling loop, all end at the deadline. KILL follows TERM after 10 s.
  const std::string wrapped =
      "exec timeout -k 10 " + std::to_string(timeout_s) + " /bin/sh -c " + shell_quote(command) + " 2>&1";
  ShellResult r;
  const auto t0 = std::chrono::steady_clock::now();
  FILE* p = popen(wrapped.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed for: " + command);
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int st = pclose(p);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  // 124: ended by TERM at the deadline; 137: by the KILL that follows (or by a SIGKILL of its own before it).
  r.timed_out = r.status == 124 || (r.status == 137 && r.seconds >= timeout_s);
  return r;
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("stepwise-launch-" + std::to_string(getpid()) + "-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void write_file(const std::string& path, const std::string& text, bool executable) {
  {
    std::ofstream f(path, std::ios::binary);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + path);
  }
  if (executable)
    fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string repo_root() { return STEPWISE_ROOT_DIR; }
std::string build_dir() { return STEPWISE_BUILD_DIR; }

}  // namespace stepwise::launch_test
