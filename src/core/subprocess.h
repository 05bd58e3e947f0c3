// Subprocess: a command line run with /bin/sh -c in a process group of its own (so that a signal reaches mpirun and
// its ranks together), its stderr into a file, its stdout readable line by line until a line of interest (a server
// saying where it listens). What `stepwise bench grpc` starts, and the serving tests' processes.
#pragma once

#include <sys/types.h>

#include <string>

namespace stepwise {

class Subprocess {
 public:
  // Starts `command`. `stderr_path` empty: stderr is inherited. Without `capture_stdout` its stdout is /dev/null;
  // with it, the process must not write more once close_stdout() is called (SIGPIPE). Errors name the command.
  explicit Subprocess(const std::string& command, const std::string& stderr_path = "", bool capture_stdout = true);
  ~Subprocess();  // SIGKILL to its group if it still runs, and waits for it
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // The first stdout line (read from where the last call stopped) that contains `text`, within `timeout_s`; empty
  // when the process ended or the time passed.
  std::string wait_for_line(const std::string& text, double timeout_s);
  void close_stdout();
  // A signal to the process, or to its whole group.
  void signal(int signal) const;
  void signal_group(int signal) const;
  // Its exit status once it ends; -1 when it ended by a signal, or still ran after `timeout_s` (then its group is
  // killed).
  int wait(double timeout_s);
  bool running();  // false once it ended (its status kept for wait())

 private:
  pid_t pid_ = -1;
  int stdout_ = -1;
  int exit_status_ = -1;
  std::string pending_;  // stdout read past the last line returned
};

}  // namespace stepwise
