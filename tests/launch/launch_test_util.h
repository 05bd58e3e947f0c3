// Shared by the launcher tests (tests/launch): shell commands run with a deadline and their output captured, and
// the small files the tests write (stand-in programs, hostfiles).
#pragma once

#include <string>

namespace stepwise::launch_test {

struct ShellResult {
  int status = -1;         // exit status; -1 when ended by a signal
  bool timed_out = false;  // killed at the deadline (then status is the one `timeout` reports)
  std::string output;      // stdout and stderr, interleaved
  double seconds = 0;      // wall time
};

// Runs `command` with /bin/sh; it is killed when it runs past `timeout_s`, so a hung launcher fails the test.
ShellResult run_shell(const std::string& command, double timeout_s);

// `text` quoted for /bin/sh (one word, taken literally).
std::string shell_quote(const std::string& text);

// A new empty directory under the test's temporary directory.
std::string fresh_dir(const std::string& name);
void write_file(const std::string& path, const std::string& text, bool executable = false);
std::string read_file(const std::string& path);

// The repository (the source tree) and the build tree the tests belong to.
std::string repo_root();
std::string build_dir();

}  // namespace stepwise::launch_test
