// ServerProcess: fork, exec, read the port from stdout, signal, wait.
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

ServerProcess::ServerProcess(const std::string& args, double start_timeout_s) {
  err_path_ = ::testing::TempDir() + "/serve-" + std::to_string(::getpid()) + "-" +
              std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + ".err";
  int out[2];
  if (pipe(out) != 0) {
    ADD_FAILURE() << "pipe failed";
    return;
  }
  const std::string command =
      "exec " + stepwise_binary() + " serve --listen 127.0.0.1:0 " + args + " 2>" + err_path_;
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(start_timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char c;
    if (read(out[0], &c, 1) != 1) break;  // it exited
    if (c != '\n') {
      line += c;
      continue;
    }
    const size_t at = line.find("listening on ");
    if (at != std::string::npos) {
      const std::string addr = line.substr(at + 13, line.find(' ', at + 13) - at - 13);
      port_ = std::stoi(addr.substr(addr.rfind(':') + 1));
      break;
    }
    line.clear();
  }
  close(out[0]);  // later output (none expected) goes nowhere
  if (port_ == 0) ADD_FAILURE() << "stepwise serve " << args << " did not start; its stderr:\n" << stderr_text();
}

int ServerProcess::terminate(double timeout_s) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
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

std::string ServerProcess::stderr_text() const {
  std::ifstream in(err_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::remove(err_path_.c_str());
}

}  // namespace stepwise::test
