// BackgroundProcess over Subprocess, with the test's failure messages.
#include "server_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/process.h"

namespace stepwise::test {

BackgroundProcess::BackgroundProcess(const std::string& command, const std::string& ready_text,
                                     double start_timeout_s)
    : err_path_(::testing::TempDir() + "/background-" + std::to_string(::getpid()) + "-" +
                std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + ".err"),
      process_(std::make_unique<Subprocess>(command, err_path_, !ready_text.empty())) {
  if (!ready_text.empty()) {
    ready_line_ = process_->wait_for_line(ready_text, start_timeout_s);
    if (ready_line_.empty())
      ADD_FAILURE() << command << " did not say '" << ready_text << "'; its stderr:\n" << stderr_text();
  }
  process_->close_stdout();  // later output goes nowhere
}

BackgroundProcess::~BackgroundProcess() {
  process_.reset();  // kills what still runs
  std::remove(err_path_.c_str());
}

int BackgroundProcess::terminate(double timeout_s) {
  process_->signal(SIGTERM);
  return process_->wait(timeout_s);
}

std::string BackgroundProcess::stderr_text() const {
  std::ifstream in(err_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ServerProcess::ServerProcess(const std::string& args, double start_timeout_s, const std::string& listen)
    : BackgroundProcess(stepwise_binary() + " serve --listen " + listen + " " + args, "listening on ",
                        start_timeout_s) {
  const std::string& line = ready_line();
  const size_t at = line.find("listening on ");
  if (at == std::string::npos) return;
  const std::string addr = line.substr(at + 13, line.find(' ', at + 13) - at - 13);
  port_ = std::stoi(addr.substr(addr.rfind(':') + 1));
}

}  // namespace stepwise::test
