// Processes a serving test starts: BackgroundProcess runs a command line (`stepwise worker`, mpirun ...) in a
// process group of its own, its stderr kept for failure messages, optionally waiting for a line of its stdout;
// ServerProcess is `stepwise serve` on a free loopback port (it prints the port it picked). Both are killed with
// their group when the test drops them.
#pragma once

#include <sys/types.h>

#include <string>

namespace stepwise::test {

class BackgroundProcess {
 public:
  // Runs `command` with /bin/sh -c. With `ready_text`, waits (at most `start_timeout_s`) for a stdout line that
  // holds it; not seeing it is a test failure (ADD_FAILURE) with the process's stderr, and ready_line() is empty.
  explicit BackgroundProcess(const std::string& command, const std::string& ready_text = "",
                             double start_timeout_s = 60);
  ~BackgroundProcess();  // kills its process group if it still runs
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& ready_line() const { return ready_line_; }
  // A signal to the whole process group (mpirun and its ranks).
  void signal_group(int signal) const;
  // SIGTERM to the process, then its exit status (-1: killed after `timeout_s`, or ended by a signal).
  int terminate(double timeout_s = 30);
  // Its exit status once it ends (-1: still running after `timeout_s`, then killed; or ended by a signal).
  int wait(double timeout_s);
  std::string stderr_text() const;

 private:
  pid_t pid_ = -1;
  std::string ready_line_;
  std::string err_path_;
};

class ServerProcess : public BackgroundProcess {
 public:
  // `stepwise serve --listen 127.0.0.1:0 <args>`, once it says it listens; port() is 0 when it did not start.
  explicit ServerProcess(const std::string& args, double start_timeout_s = 60);

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int port_ = 0;
};

}  // namespace stepwise::test
