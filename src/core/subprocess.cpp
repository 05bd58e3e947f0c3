// Subprocess: fork, exec, poll, signal, wait.
#include "core/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/status.h"

namespace stepwise {

Subprocess::Subprocess(const std::string& command, const std::string& stderr_path, bool capture_stdout) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0)
    fail(StatusCode::kUnavailable, "cannot start `", command, "`: pipe: ", std::strerror(errno));
  const std::string line = "exec " + command + (capture_stdout ? "" : " >/dev/null") +
                           (stderr_path.empty() ? "" : " 2>'" + stderr_path + "'");
  pid_ = fork();
  if (pid_ < 0) fail(StatusCode::kUnavailable, "cannot start `", command, "`: fork: ", std::strerror(errno));
  if (pid_ == 0) {
    setpgid(0, 0);
    dup2(out[1], 1);  // dup2 clears close-on-exec on the copy
    execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid_, pid_);  // also here, so that a signal to the group right after the constructor reaches it
  close(out[1]);
  stdout_ = out[0];
  if (!capture_stdout) close_stdout();
}

std::string Subprocess::wait_for_line(const std::string& text, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (stdout_ >= 0) {
    for (size_t end; (end = pending_.find('\n')) != std::string::npos;) {
      std::string got = pending_.substr(0, end);
      pending_.erase(0, end + 1);
      if (got.find(text) != std::string::npos) return got;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return "";
    pollfd p{stdout_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100))) <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(stdout_, buffer, sizeof(buffer));
    if (n <= 0) {
      close_stdout();  // it exited
      return "";
    }
    pending_.append(buffer, static_cast<size_t>(n));
  }
  return "";
}

void Subprocess::close_stdout() {
  if (stdout_ >= 0) close(stdout_);
  stdout_ = -1;
}

void Subprocess::signal(int signal) const {
  if (pid_ > 0) kill(pid_, signal);
}

void Subprocess::signal_group(int signal) const {
  if (pid_ > 0) kill(-pid_, signal);
}

bool Subprocess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == 0) return true;
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  pid_ = -1;
  return false;
}

int Subprocess::wait(double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
      exit_status_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return exit_status_;
}

Subprocess::~Subprocess() {
  close_stdout();
  if (pid_ > 0) {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

}  // namespace stepwise
