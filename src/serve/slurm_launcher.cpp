// SlurmLauncher: the batch script, and sbatch / squeue / scontrol / scancel.
#include "serve/slurm_launcher.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <sstream>

#include "core/status.h"
#include "core/strings.h"
#include "io/atomic_file.h"
#include "serve/job_supervisor.h"

extern char** environ;

namespace stepwise::serve {

namespace {

struct CommandResult {
  int exit_code = -1;  // -1: could not run, or timed out
  std::string output;  // stdout and stderr
};

// Runs argv[0] from PATH with its output captured; killed after `timeout_s` (a hung controller must not hang the
// coordinator's monitor).
CommandResult run_command(const std::vector<std::string>& argv, double timeout_s = 30) {
  CommandResult r;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return r;
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&files, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&files, pipe_fds[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &files, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  close(pipe_fds[1]);
  if (rc != 0) {
    close(pipe_fds[0]);
    r.output = argv[0] + ": " + std::strerror(rc);
    return r;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  char buffer[4096];
  for (;;) {
    pollfd p{pipe_fds[0], POLLIN, 0};
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      r.output += "\n(" + argv[0] + " did not answer within " + std::to_string(static_cast<int>(timeout_s)) + " s)";
      break;
    }
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = read(pipe_fds[0], buffer, sizeof(buffer));
    if (n <= 0) break;
    r.output.append(buffer, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && std::chrono::steady_clock::now() <= deadline) r.exit_code = WEXITSTATUS(status);
  while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == ' ')) r.output.pop_back();
  return r;
}

// A word for bash, whatever it holds.
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// "KEY=VALUE" of `scontrol show job -o` output; empty when absent.
std::string field_of(const std::string& line, const std::string& key) {
  const size_t at = line.find(" " + key + "=");
  if (at == std::string::npos) return "";
  const size_t start = at + key.size() + 2;
  return line.substr(start, line.find(' ', start) - start);
}

}  // namespace

bool SlurmLauncher::available() { return run_command({"sbatch", "--version"}, 10).exit_code == 0; }

std::string SlurmLauncher::start(const JobRecord& job, const std::vector<JobStep>& steps, const std::string& dir) {
  std::string script = kJobSbatchTemplate;
  std::string lines;
  for (size_t i = 0; i < steps.size(); ++i) {
    lines += "step " + std::to_string(i + 1) + " " + std::to_string(steps[i].ranks) + " " +
             shell_quote(options_.binary);
    for (const std::string& a : steps[i].args) lines += " " + shell_quote(a);
    lines += "\n";
  }
  const v1::JobSpec& spec = job.job.spec();
  replace_all(script, "{{JOB_NAME}}", "stepwise-job-" + job.job.id());
  replace_all(script, "{{RANKS}}", std::to_string(spec.ranks()));
  replace_all(script, "{{LOG}}", job.job.log_path());
  replace_all(script, "{{WORKDIR}}", job.workdir);
  replace_all(script, "{{JOB_DIR}}", shell_quote(dir));
  replace_all(script, "{{STEPS}}", lines);
  const std::string path = dir + "/job.sbatch";
  write_file_atomic(path, script);
  std::vector<std::string> argv = {"sbatch", "--parsable"};
  argv.insert(argv.end(), options_.sbatch_args.begin(), options_.sbatch_args.end());
  argv.insert(argv.end(), spec.slurm_args().begin(), spec.slurm_args().end());
  argv.push_back(path);
  const CommandResult r = run_command(argv);
  // --parsable: "ID" or "ID;CLUSTER".
  const std::string id = r.output.substr(0, r.output.find(';'));
  if (r.exit_code != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    invalid_argument("job ", job.job.id(), ": sbatch refused ", path, ": ", r.output);
  return id;
}

LaunchStatus SlurmLauncher::poll(const JobRecord& job, const std::string& dir) {
  LaunchStatus s;
  const std::string& id = job.handle;
  const CommandResult queue = run_command({"squeue", "-h", "-j", id, "-o", "%T %r"});
  if (queue.exit_code == 0 && !queue.output.empty()) {
    const std::string state = queue.output.substr(0, queue.output.find(' '));
    s.detail = "Slurm job " + id + ": " + queue.output;
    if (state == "PENDING" || state == "REQUEUED" || state == "REQUEUE_HOLD") {
      s.phase = LaunchStatus::Phase::kQueued;
      return s;
    }
    if (state == "RUNNING" || state == "CONFIGURING" || state == "COMPLETING" || state == "SUSPENDED" ||
        state == "STOPPED" || state == "RESIZING" || state == "SIGNALING" || state == "STAGE_OUT") {
      s.phase = LaunchStatus::Phase::kRunning;
      return s;
    }
  } else if (queue.exit_code != 0 && queue.output.find("Invalid job id") == std::string::npos) {
    // The controller did not answer: nothing is known, so nothing changes.
    s.phase = LaunchStatus::Phase::kRunning;
    s.detail = "squeue: " + queue.output;
    return s;
  }
  ExitRecord exit;
  if (read_exit_record(dir, exit)) return LaunchStatus::ended(exit);
  // Ended without an exit record (cancelled, timed out, node failure): Slurm's own account, while it keeps one.
  const CommandResult shown = run_command({"scontrol", "-o", "show", "job", id});
  const std::string state = field_of(" " + shown.output, "JobState");
  if (shown.exit_code == 0 && !state.empty()) {
    s.phase = LaunchStatus::Phase::kEnded;
    const std::string code = field_of(" " + shown.output, "ExitCode");  // "STATUS:SIGNAL"
    s.exit_code = code.empty() || code.substr(code.find(':') + 1) != "0" ? -1 : std::atoi(code.c_str());
    s.cancelled = state == "CANCELLED";
    s.detail = "Slurm job " + id + " ended " + state + " (exit code " + code + ", reason " +
               field_of(" " + shown.output, "Reason") + ")";
    return s;
  }
  s.phase = LaunchStatus::Phase::kVanished;
  s.detail = "Slurm no longer knows job " + id + " and it left no exit record";
  return s;
}

void SlurmLauncher::cancel(const JobRecord& job, const std::string&, bool force) {
  if (job.handle.empty()) return;
  // scancel signals every step and kills what is left after the cluster's KillWait; a second one (force) changes
  // nothing but is harmless.
  (void)force;
  const CommandResult r = run_command({"scancel", job.handle});
  if (r.exit_code != 0) LOG(WARNING) << "scancel " << job.handle << ": " << r.output;
}

}  // namespace stepwise::serve
