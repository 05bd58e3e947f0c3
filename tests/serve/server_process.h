// Processes a serving test starts: BackgroundProcess runs a command line (`stepwise worker`, mpirun ...) as a
// Subprocess (core/subprocess.h: a process group of its own), its stderr kept for failure messages, optionally
// waiting for a line of its stdout; ServerProcess is `stepwise serve` on a free loopback port (it prints the port it
// picked). Both are killed with their group when the test drops them.
#pragma once

#include <memory>
#include <string>

#include "core/subprocess.h"

namespace stepwise::test {

class BackgroundProcess {
 public:
  // Runs `command`. With `ready_text`, waits (at most `start_timeout_s`) for a stdout line that holds it; not seeing
  // it is a test failure (ADD_FAILURE) with the process's stderr, and ready_line() is empty.
  explicit BackgroundProcess(const std::string& command, const std::string& ready_text = "",
                             double start_timeout_s = 60);
  ~BackgroundProcess();

  pid_t pid() const { return process_->pid(); }
  const std::string& ready_line() const { return ready_line_; }
  // A signal to the whole process group (mpirun and its ranks).
  void signal_group(int signal) const { process_->signal_group(signal); }
  // SIGTERM to the process, then its exit status (-1: killed after `timeout_s`, or ended by a signal).
  int terminate(double timeout_s = 30);
  // Its exit status once it ends (-1: still running after `timeout_s`, then killed; or ended by a signal).
  int wait(double timeout_s) { return process_->wait(timeout_s); }
  std::string stderr_text() const;

 private:
  std::string err_path_;
  std::unique_ptr<Subprocess> process_;
  std::string ready_line_;
};

class ServerProcess : public BackgroundProcess {
 public:
  // `stepwise serve --listen <listen> <args>`, once it says it listens; port() is 0 when it did not start.
  explicit ServerProcess(const std::string& args, double start_timeout_s = 60,
                         const std::string& listen = "127.0.0.1:0");

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int port_ = 0;
};

}  // namespace stepwise::test
