// ServerProcess: `stepwise serve` started by a test as a child process on a free loopback port (it prints the port
// it picked), stopped with SIGTERM (and waited for) or killed, its stderr kept for failure messages.
#pragma once

#include <sys/types.h>

#include <string>

namespace stepwise::test {

class ServerProcess {
 public:
  // Runs `stepwise serve --listen 127.0.0.1:0 <args>` and waits (at most `start_timeout_s`) for its
  // "listening on" line; a failure to start is a test failure (ADD_FAILURE) with its stderr, and port() is 0.
  explicit ServerProcess(const std::string& args, double start_timeout_s = 60);
  ~ServerProcess();  // kills it if it still runs
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // SIGTERM, then its exit status (-1: killed after `timeout_s`, or ended by a signal).
  int terminate(double timeout_s = 30);
  std::string stderr_text() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string err_path_;
};

}  // namespace stepwise::test
