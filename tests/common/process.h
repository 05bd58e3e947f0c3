// Running a program from a test, as a user runs it: a shell command line, its exit status, its stdout and stderr
// apart, and a time limit after which it and everything it started are killed and the test fails, so that a hung
// child fails the test instead of hanging CI.
#pragma once

#include <string>

namespace stepwise::test {

struct ProcessResult {
  int exit_code = -1;  // -1 when a signal ended it
  int signal = 0;      // the signal that ended it; 0 when it exited
  bool timed_out = false;
  std::string out, err;  // its stdout and its stderr
  double seconds = 0;    // wall time

  std::string output() const { return out + err; }  // both, to search
  // "exit 1 after 0.3 s" (or the signal, or the timeout) and the ends of stderr and stdout: for failure messages.
  std::string describe() const;
};

struct ProcessOptions {
  std::string input;       // written to its stdin, which is then closed (empty: /dev/null)
  double timeout_s = 300;  // then SIGTERM to its process group, and SIGKILL 5 s later
};

// Runs `command` with /bin/sh -c in a process group of its own. A timeout is also a test failure (ADD_FAILURE)
// naming the command.
ProcessResult run_process(const std::string& command, const ProcessOptions& options = {});

// This build's stepwise binary (STEPWISE_BUILD_DIR/bin/stepwise).
std::string stepwise_binary();

}  // namespace stepwise::test
