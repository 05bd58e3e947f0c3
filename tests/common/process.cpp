// fork + exec of /bin/sh with three pipes, drained with poll() so that neither stream can fill up and block the
// child, and a deadline after which the child's process group is ended.
#include "common/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

namespace stepwise::test {

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kKillGraceSeconds = 5;

std::string tail(const std::string& text, size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

std::string ProcessResult::describe() const {
  std::string what = timed_out        ? "timed out"
                     : exit_code >= 0 ? "exit " + std::to_string(exit_code)
                                      : "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  what += " after " + std::to_string(seconds) + " s";
  return what + "\n--- stderr ---\n" + tail(err, 4000) + "\n--- stdout ---\n" + tail(out, 4000);
}

ProcessResult run_process(const std::string& command, const ProcessOptions& options) {
  // A child that exits before reading all of its stdin must not kill the test with SIGPIPE.
  static const bool kIgnoreSigpipe = [] { return ::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
  (void)kIgnoreSigpipe;
  const auto t0 = Clock::now();
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno) << " (running: " << command << ")";
    return {};
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno) << " (running: " << command << ")";
    return {};
  }
  if (pid == 0) {  // the child: only async-signal-safe calls until exec
    ::setpgid(0, 0);
    if (options.input.empty()) {
      const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      ::dup2(null, 0);
    } else {
      ::dup2(in[0], 0);
    }
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: the child may not have run yet when the group is signalled
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  int to_child = in[1];
  if (options.input.empty()) close_fd(to_child);

  ProcessResult r;
  int from_out = out[0], from_err = err[0];
  size_t written = 0;
  auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.timeout_s));
  bool terminated = false;
  while (from_out >= 0 || from_err >= 0 || to_child >= 0) {
    std::vector<pollfd> fds;
    for (const int fd : {from_out, from_err})
      if (fd >= 0) fds.push_back({fd, POLLIN, 0});
    if (to_child >= 0) fds.push_back({to_child, POLLOUT, 0});
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    const int ready = left > 0 ? ::poll(fds.data(), fds.size(), static_cast<int>(left)) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {  // the deadline: SIGTERM to the group (a launcher passes it on), then SIGKILL
      if (terminated) {
        ::kill(-pid, SIGKILL);
        break;
      }
      r.timed_out = terminated = true;
      ::kill(-pid, SIGTERM);
      deadline = Clock::now() + std::chrono::seconds(static_cast<int>(kKillGraceSeconds));
      continue;
    }
    for (const pollfd& p : fds) {
      if (!p.revents) continue;
      if (p.fd == to_child) {
        const ssize_t n = ::write(to_child, options.input.data() + written, options.input.size() - written);
        if (n > 0) written += static_cast<size_t>(n);
        if (n < 0 || written == options.input.size()) close_fd(to_child);
        continue;
      }
      char buf[65536];
      const ssize_t n = ::read(p.fd, buf, sizeof buf);
      std::string& sink = p.fd == from_out ? r.out : r.err;
      if (n > 0) {
        sink.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close_fd(p.fd == from_out ? from_out : from_err);
      }
    }
  }
  close_fd(from_out);
  close_fd(from_err);
  close_fd(to_child);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (r.timed_out) ADD_FAILURE() << "timed out after " << options.timeout_s << " s, killed: " << command;
  return r;
}

std::string stepwise_binary() { return std::string(STEPWISE_BUILD_DIR) + "/bin/stepwise"; }

}  // namespace stepwise::test
