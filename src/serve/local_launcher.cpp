// LocalLauncher: spawning supervisors, and finding them again.
#include "serve/local_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/process_session.h"
#include "core/status.h"
#include "io/json_file.h"
#include "serve/job_supervisor.h"

extern char** environ;

namespace stepwise::serve {

namespace {

// The supervisor's identity: the stored handle, else (the coordinator died between starting it and storing the
// handle) the one its heartbeat file names.
ProcessIdentity supervisor_of(const JobRecord& job, const std::string& job_dir) {
  if (!job.handle.empty()) return ProcessIdentity::parse(job.handle);
  const std::string beat = job_dir + "/heartbeat.json";
  if (!std::filesystem::exists(beat)) return {};
  try {
    return ProcessIdentity::parse(read_json_file(beat, StatusCode::kDataLoss).value("supervisor", ""));
  } catch (const StatusError&) {
    return {};
  }
}

constexpr double kSupervisorExitsWithinS = 30;

bool exit_record_older_than(const std::string& job_dir, double seconds) {
  std::error_code ec;
  const auto written = std::filesystem::last_write_time(job_dir + "/exit.json", ec);
  return !ec && std::filesystem::file_time_type::clock::now() - written > std::chrono::duration<double>(seconds);
}

}  // namespace

void LocalLauncher::reap() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = children_.begin(); it != children_.end();) {
    if (waitpid(*it, nullptr, WNOHANG) != 0)
      it = children_.erase(it);
    else
      ++it;
  }
}

std::string LocalLauncher::start(const JobRecord& job, const std::vector<JobStep>& steps, const std::string& dir) {
  SupervisorCommand command;
  command.binary = options_.binary;
  command.mpirun = options_.mpirun;
  command.workdir = job.workdir;
  command.steps = steps;
  command.env = options_.env;
  command.cancel_grace_s = options_.cancel_grace_s;
  write_supervisor_command(dir, command);

  posix_spawn_file_actions_t files;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&files);
  posix_spawnattr_init(&attr);
  const std::string log = dir + "/supervisor.log";
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&files, 1, 2);
  // A session of its own: outside the coordinator's, so that a terminal's or a service manager's signal to the
  // coordinator's group does not reach the job, and so that the job's processes are found by session id.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);  // the coordinator blocks SIGTERM in its threads; the job must not
  std::string bin = options_.supervisor, where = dir;
  char* argv[] = {bin.data(), where.data(), nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, bin.c_str(), &files, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    fail(StatusCode::kUnavailable, "job ", job.job.id(), ": cannot start ", bin, ": ", std::strerror(rc));
  {
    std::lock_guard<std::mutex> lock(mu_);
    children_.insert(pid);
  }
  ProcessIdentity who = identify_process(pid);
  if (who.pid < 0) who = {pid, 0};  // ended already: poll() reads its exit record
  return who.to_string();
}

LaunchStatus LocalLauncher::poll(const JobRecord& job, const std::string& dir) {
  reap();
  const ProcessIdentity who = supervisor_of(job, dir);
  // Liveness before the record: the supervisor writes its record and then exits, so one seen gone has written it
  // if it ever will. The record comes once the job's other processes are gone, and the job has ended when the
  // supervisor has too, so that an ended job's slot is free; one that outstays its record is killed.
  const bool alive = process_alive(who);
  ExitRecord exit;
  const bool recorded = read_exit_record(dir, exit);
  LaunchStatus s;
  if (alive && !(recorded && exit_record_older_than(dir, kSupervisorExitsWithinS))) {
    s.phase = LaunchStatus::Phase::kRunning;
    return s;
  }
  if (recorded) {
    if (alive) signal_session(who.pid, SIGKILL);
    return LaunchStatus::ended(exit);
  }
  s.phase = LaunchStatus::Phase::kVanished;
  s.detail = who.pid < 0 ? "its supervisor never started (no heartbeat file)"
                         : "its supervisor (pid " + std::to_string(who.pid) + ") is gone without an exit record";
  return s;
}

void LocalLauncher::cancel(const JobRecord& job, const std::string& dir, bool force) {
  const ProcessIdentity who = supervisor_of(job, dir);
  if (who.pid <= 0) return;
  if (!force && process_alive(who)) {
    kill(who.pid, SIGTERM);  // the supervisor signals the job's processes, escalates, writes the exit record
    return;
  }
  // The supervisor is gone or did not finish in time: everything left in its session goes now.
  if (process_alive(who)) kill(who.pid, SIGKILL);
  signal_session(who.pid, SIGKILL);
}

}  // namespace stepwise::serve
