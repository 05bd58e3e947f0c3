// BackgroundProcess: fork, exec, read stdout up to a line, signal, wait.
#include "server_process.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/process.h"

namespace stepwise::test {

BackgroundProcess::BackgroundProcess(const std::string& command, const std::string& ready_text,
                                     double start_timeout_s) {
  err_path_ = ::testing::TempDir() + "/background-" + std::to_string(::getpid()) + "-" +
              std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + ".err";
  int out[2];
  if (pipe(out) != 0) {
    ADD_FAILURE() << "pipe failed";
    return;
  }
  const std::string line = "exec " + command + " 2>" + err_path_;
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  if (ready_text.empty()) {
    close(out[0]);  // its output goes nowhere
    return;
  }
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(start_timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char c;
    if (read(out[0], &c, 1) != 1) break;  // it exited
    if (c != '\n') {
      text += c;
      continue;
    }
    if (text.find(ready_text) != std::string::npos) {
      ready_line_ = text;
      break;
    }
    text.clear();
  }
  close(out[0]);  // later output goes nowhere
  if (ready_line_.empty()) ADD_FAILURE() << command << " did not say '" << ready_text << "'; its stderr:\n" << stderr_text();
}

void BackgroundProcess::signal_group(int signal) const {
  if (pid_ > 0) kill(-pid_, signal);
}

int BackgroundProcess::wait(double timeout_s) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int BackgroundProcess::terminate(double timeout_s) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  return wait(timeout_s);
}

std::string BackgroundProcess::stderr_text() const {
  std::ifstream in(err_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0) {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::remove(err_path_.c_str());
}

ServerProcess::ServerProcess(const std::string& args, double start_timeout_s)
    : BackgroundProcess(stepwise_binary() + " serve --listen 127.0.0.1:0 " + args, "listening on ", start_timeout_s) {
  const std::string& line = ready_line();
  const size_t at = line.find("listening on ");
  if (at == std::string::npos) return;
  const std::string addr = line.substr(at + 13, line.find(' ', at + 13) - at - 13);
  port_ = std::stoi(addr.substr(addr.rfind(':') + 1));
}

}  // namespace stepwise::test
