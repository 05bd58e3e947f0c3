// The local job supervisor: steps, heartbeat, cancellation, exit record.
#include "serve/job_supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/process_session.h"
#include "core/status.h"
#include "io/atomic_file.h"
#include "io/json_file.h"

namespace stepwise::serve {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

volatile sig_atomic_t g_cancel = 0;
void on_sigterm(int) { g_cancel = 1; }

SupervisorCommand read_command(const std::string& job_dir) {
  const json j = read_json_file(job_dir + "/command.json", StatusCode::kDataLoss);
  SupervisorCommand c;
  c.binary = j.at("binary");
  c.mpirun = j.at("mpirun");
  c.workdir = j.at("workdir");
  c.cancel_grace_s = j.at("cancel_grace_s");
  for (const json& s : j.at("steps")) c.steps.push_back({s.at("ranks").get<int>(), s.at("args")});
  for (const auto& [k, v] : j.at("env").items()) c.env.emplace_back(k, v.get<std::string>());
  return c;
}

// The argv of one step: the binary itself, or mpirun over it passing the job's environment to every rank.
std::vector<std::string> step_argv(const SupervisorCommand& c, const JobStep& step) {
  std::vector<std::string> argv;
  if (step.ranks > 1) {
    argv = {c.mpirun, "-np", std::to_string(step.ranks), "--bind-to", "none", "--oversubscribe"};
    if (geteuid() == 0) argv.push_back("--allow-run-as-root");
    for (const auto& kv : c.env) {
      argv.push_back("-x");
      argv.push_back(kv.first);
    }
  }
  argv.push_back(c.binary);
  argv.insert(argv.end(), step.args.begin(), step.args.end());
  return argv;
}

constexpr int kKilledGoneWithinS = 30;

// True once this supervisor is the only live process of its session, polling for up to `seconds`.
bool wait_until_alone(int seconds) {
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(seconds);
  while (session_processes(getpid()).size() > 1) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// fork + exec in this single-threaded process; output to the job's log; -1 when it cannot start.
pid_t start_step(const std::vector<std::string>& argv, const std::string& workdir, int log_fd) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    signal(SIGTERM, SIG_DFL);
    if (chdir(workdir.c_str()) != 0) _exit(126);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execvp(args[0], args.data());
    dprintf(2, "job-supervisor: cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  return pid;
}

void write_heartbeat(const std::string& job_dir, const ProcessIdentity& self, int step, pid_t child) {
  write_file_atomic(job_dir + "/heartbeat.json",
                    json{{"supervisor", self.to_string()}, {"step", step}, {"pid", child},
                         {"unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count()}}
                            .dump() +
                        "\n");
}

void log_line(int fd, const std::string& text) {
  const std::string line = "[job-supervisor] " + text + "\n";
  if (write(fd, line.data(), line.size()) < 0) {
  }  // the log is best effort; the exit record is what counts
}

}  // namespace

void write_supervisor_command(const std::string& job_dir, const SupervisorCommand& c) {
  json steps = json::array();
  for (const JobStep& s : c.steps) steps.push_back({{"ranks", s.ranks}, {"args", s.args}});
  json env = json::object();
  for (const auto& [k, v] : c.env) env[k] = v;
  write_file_atomic(job_dir + "/command.json", json{{"binary", c.binary}, {"mpirun", c.mpirun},
                                                    {"workdir", c.workdir}, {"steps", steps}, {"env", env},
                                                    {"cancel_grace_s", c.cancel_grace_s}}
                                                   .dump(1) +
                                                   "\n");
}

bool read_exit_record(const std::string& job_dir, ExitRecord& r) {
  if (!std::filesystem::exists(job_dir + "/exit.json")) return false;
  const json j = read_json_file(job_dir + "/exit.json", StatusCode::kDataLoss);
  r.exit_code = j.at("exit_code");
  r.failed_step = j.value("failed_step", 0);
  r.cancelled = j.value("cancelled", false);
  return true;
}

int run_job_supervisor(const std::string& job_dir) {
  const SupervisorCommand c = read_command(job_dir);
  if (getsid(0) != getpid()) setsid();  // normally started so; by hand, make the session ours
  const ProcessIdentity self = identify_process(getpid());
  signal(SIGTERM, on_sigterm);
  signal(SIGINT, on_sigterm);
  signal(SIGHUP, SIG_IGN);
  for (const auto& [k, v] : c.env) setenv(k.c_str(), v.c_str(), 1);
  const std::string log_path = job_dir + "/output.log";
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) fail(StatusCode::kUnavailable, "job-supervisor: cannot open ", log_path, ": ", std::strerror(errno));

  ExitRecord result;
  result.exit_code = 0;
  write_heartbeat(job_dir, self, 0, -1);
  for (size_t i = 0; i < c.steps.size() && !g_cancel; ++i) {
    const std::vector<std::string> argv = step_argv(c, c.steps[i]);
    std::string shown;
    for (const std::string& a : argv) shown += (shown.empty() ? "" : " ") + a;
    log_line(log_fd, "step " + std::to_string(i + 1) + "/" + std::to_string(c.steps.size()) + ": " + shown);
    const pid_t child = start_step(argv, c.workdir, log_fd);
    int status = 0;
    bool done = child < 0;
    if (child < 0) log_line(log_fd, std::string("cannot start it: fork: ") + std::strerror(errno));
    Clock::time_point beat = Clock::now(), term_sent{};
    bool killed = false;
    while (!done) {
      const pid_t got = waitpid(child, &status, WNOHANG);
      if (got == child || (got < 0 && errno == ECHILD)) break;
      const Clock::time_point now = Clock::now();
      if (g_cancel && term_sent == Clock::time_point{}) {
        log_line(log_fd, "cancelled: SIGTERM to every process of the job");
        signal_session(getpid(), SIGTERM, getpid());
        term_sent = now;
      }
      if (!killed && term_sent != Clock::time_point{} &&
          now - term_sent > std::chrono::duration<double>(c.cancel_grace_s)) {
        log_line(log_fd, "still running after the grace period: SIGKILL");
        signal_session(getpid(), SIGKILL, getpid());
        killed = true;
      }
      if (now - beat > std::chrono::seconds(1)) {
        write_heartbeat(job_dir, self, static_cast<int>(i + 1), child);
        beat = now;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // Ranks left behind by a step (mpirun gone first, or a rank that ignored SIGTERM) do not outlive it, nor
    // overlap the next step or the exit record: a killed process still tears its memory down (seconds for a large
    // one), and the job's slot (and its GPUs) goes to the next job once the exit record is there.
    if (signal_session(getpid(), SIGKILL, getpid()) > 0) {
      log_line(log_fd, "killed processes the step left behind");
      if (!wait_until_alone(kKilledGoneWithinS))
        log_line(log_fd, "processes still ending " + std::to_string(kKilledGoneWithinS) + " s after SIGKILL");
    }
    const int code = child < 0 ? 127 : WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (child >= 0 && WIFSIGNALED(status))
      log_line(log_fd, std::string("step ended by signal ") + strsignal(WTERMSIG(status)));
    if (code != 0 || g_cancel) {
      result.exit_code = code;
      result.failed_step = static_cast<int>(i + 1);
      break;
    }
  }
  result.cancelled = g_cancel != 0;
  log_line(log_fd, "done: exit status " + std::to_string(result.exit_code) + (result.cancelled ? ", cancelled" : ""));
  write_file_atomic(job_dir + "/exit.json", json{{"exit_code", result.exit_code},
                                                 {"failed_step", result.failed_step},
                                                 {"cancelled", result.cancelled}}
                                                .dump() +
                                                "\n");
  close(log_fd);
  return 0;
}

}  // namespace stepwise::serve
