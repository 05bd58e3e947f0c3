// LocalLauncher as the job scheduler meets it, without a coordinator: a local job has ended only once its
// supervisor has exited, so that an ended job's slot (and whatever its ranks held) is free; a supervisor that
// outstays its exit record is killed; and what a step left behind is gone before the record says the job ended.
#include "serve/local_launcher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/test_dir.h"
#include "core/process_session.h"

namespace stepwise::serve {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// `sleep 60` in a session of its own, as a supervisor runs; returned once it leads that session.
pid_t start_session_leader() {
  const pid_t pid = fork();
  if (pid == 0) {
    setsid();
    execl("/bin/sleep", "sleep", "60", static_cast<char*>(nullptr));
    _exit(127);
  }
  while (getsid(pid) != pid) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return pid;
}

TEST(LocalLauncher, AnExitRecordWhoseSupervisorStillRunsIsNotYetTheEnd) {
  const std::string dir = test::fresh_test_dir("outstayed");
  std::ofstream(dir + "/exit.json") << R"({"exit_code": 3, "failed_step": 1, "cancelled": false})"
                                    << "\n";
  const pid_t supervisor = start_session_leader();
  JobRecord job;
  job.handle = identify_process(supervisor).to_string();
  LocalLauncher launcher(LocalLauncherOptions{});

  EXPECT_EQ(launcher.poll(job, dir).phase, LaunchStatus::Phase::kRunning);

  // A record written a minute ago by a supervisor that is still there: it is killed, and the job has ended.
  fs::last_write_time(dir + "/exit.json", fs::file_time_type::clock::now() - std::chrono::seconds(60));
  const LaunchStatus ended = launcher.poll(job, dir);
  EXPECT_EQ(ended.phase, LaunchStatus::Phase::kEnded);
  EXPECT_EQ(ended.exit_code, 3);
  EXPECT_EQ(ended.failed_step, 1);
  int status = 0;
  pid_t got = 0;
  for (int i = 0; i < 500 && (got = waitpid(supervisor, &status, WNOHANG)) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (got == 0) {  // not killed: end it here, and fail
    kill(supervisor, SIGKILL);
    waitpid(supervisor, &status, 0);
    FAIL() << "the supervisor that outstayed its exit record still ran 5 s after the job was reported ended";
  }
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
}

TEST(LocalLauncher, NothingOfTheJobRunsOnceItHasEnded) {
  const std::string dir = test::fresh_test_dir("leftover");
  LocalLauncherOptions options;
  options.binary = "/bin/sh";
  options.supervisor = std::string(STEPWISE_BUILD_DIR) + "/bin/stepwise-job-supervisor";
  LocalLauncher launcher(options);
  JobRecord job;
  job.workdir = dir;
  // A step that leaves a process of the job behind it.
  job.handle = launcher.start(job, {{1, {"-c", "sleep 60 & echo $! > leftover.pid"}}}, dir);
  const pid_t supervisor = ProcessIdentity::parse(job.handle).pid;
  ASSERT_GT(supervisor, 0) << job.handle;

  const auto deadline = Clock::now() + std::chrono::seconds(60);
  LaunchStatus s;
  while ((s = launcher.poll(job, dir)).phase == LaunchStatus::Phase::kRunning && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const std::vector<pid_t> left = session_processes(supervisor);
  ASSERT_EQ(s.phase, LaunchStatus::Phase::kEnded) << s.detail << "\n" << read_text(dir + "/output.log");
  EXPECT_EQ(s.exit_code, 0);
  EXPECT_TRUE(left.empty()) << left.size() << " processes of the job still run, the first pid " << left.front();
  const pid_t leftover = std::atoi(read_text(dir + "/leftover.pid").c_str());
  ASSERT_GT(leftover, 0);
  EXPECT_LT(identify_process(leftover).pid, 0) << "the step's `sleep 60` (pid " << leftover << ") still runs";
  EXPECT_NE(read_text(dir + "/output.log").find("killed processes the step left behind"), std::string::npos)
      << read_text(dir + "/output.log");
}

}  // namespace
}  // namespace stepwise::serve
