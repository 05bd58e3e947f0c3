// JobScheduler: submit, the monitor thread, and the end of a job.
#include "serve/job_scheduler.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/status.h"
#include "io/atomic_file.h"
#include "serve/line_tail.h"
#include "serve/local_launcher.h"
#include "serve/slurm_launcher.h"

namespace stepwise::serve {

namespace fs = std::filesystem;

namespace {

constexpr int kLogTailLines = 12;          // of a failed job's output, in its message
constexpr double kProgressStoreS = 2.0;    // progress reaches the store at most this often (states: at once)
constexpr double kForceAfterGraceS = 5.0;  // a cancel still running this long after the grace period: SIGKILL

// To the microsecond (protobuf's TimeUtil::GetCurrentTime gives whole seconds here).
google::protobuf::Timestamp now_timestamp() {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  google::protobuf::Timestamp t;
  t.set_seconds(us / 1000000);
  t.set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
  return t;
}

// The numeric id of a job id ("17"), -1 for anything else.
int64_t job_number(const std::string& id) {
  char* end = nullptr;
  const long long n = std::strtoll(id.c_str(), &end, 10);
  return id.empty() || *end != '\0' || n <= 0 ? -1 : n;
}

// "stepwise data prepare": a step's command words, before its flags.
std::string command_name(const JobStep& step) {
  std::string name = "stepwise";
  for (const std::string& a : step.args) {
    if (a.rfind("-", 0) == 0) break;
    name += " " + a;
  }
  return name;
}

int lock_state_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) invalid_argument("--state-dir ", dir, ": cannot create it (", ec.message(), ")");
  const std::string path = dir + "/coordinator.lock";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) invalid_argument("--state-dir ", dir, ": cannot open ", path, ": ", std::strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    fail(StatusCode::kFailedPrecondition, "--state-dir ", dir, ": another coordinator uses it (", path,
         " is locked); stop that one, or give this one another directory");
  }
  return fd;
}

}  // namespace

// A run's metrics.jsonl, read as it grows.
struct JobScheduler::Progress {
  explicit Progress(const std::string& path) : lines(path) {}
  LineTail lines;
  void read(v1::JobProgress& p) {
    for (const std::string& line : lines.read()) {
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object()) continue;
      if (j.contains("loss")) {
        p.set_step(j.value("step", int64_t{0}));
        p.set_loss(j.value("loss", 0.0));
        p.set_tokens_per_s(j.value("tokens_per_s", 0.0));
        if (j.contains("total_steps")) p.set_total_steps(j["total_steps"].get<int64_t>());
      }
      if (j.contains("eval_loss")) p.set_eval_loss(j.value("eval_loss", 0.0));
    }
  }
};

JobScheduler::JobScheduler(JobSchedulerOptions options)
    : options_(std::move(options)),
      workdir_(fs::current_path().string()),
      lock_fd_(lock_state_dir(options_.state_dir)),
      store_(options_.state_dir) {
  LocalLauncherOptions local;
  local.binary = options_.binary;
  local.supervisor = (fs::path(options_.binary).parent_path() / "stepwise-job-supervisor").string();
  if (access(local.supervisor.c_str(), X_OK) != 0)
    fail(StatusCode::kFailedPrecondition, "--state-dir: local jobs need ", local.supervisor,
         " (built and installed with stepwise: scripts/build.sh)");
  local.mpirun = options_.mpirun;
  local.cancel_grace_s = options_.cancel_grace_s;
  // Slots are cores: each rank's OpenMP team gets its share.
  const long cores = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  local.env.emplace_back("OMP_NUM_THREADS", std::to_string(std::max(1L, cores / options_.local_slots)));
  local_ = std::make_unique<LocalLauncher>(local);
  if (SlurmLauncher::available()) slurm_ = std::make_unique<SlurmLauncher>(SlurmLauncherOptions{
                                      options_.binary, options_.sbatch_args});
  for (JobRecord& r : store_.active()) {
    const int64_t id = std::stoll(r.job.id());
    reattached_.insert(id);
    active_.emplace(id, std::move(r));
  }
  LOG(INFO) << "jobs: " << store_.path() << ", " << active_.size() << " active to follow, " << options_.local_slots
            << " local slots, Slurm " << (slurm_ ? "available" : "not found");
  thread_ = std::thread([this] { monitor(); });
}

JobScheduler::~JobScheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  close(lock_fd_);
}

std::string JobScheduler::job_dir(const std::string& id) const { return options_.state_dir + "/jobs/" + id; }

JobLauncher* JobScheduler::launcher_for(const JobRecord& r) const {
  return r.job.launcher() == "slurm" ? slurm_.get() : local_.get();
}

void JobScheduler::commit(const JobRecord& r) {
  store_.update(r);
  ++version_;
  changed_.notify_all();
}

v1::Job JobScheduler::submit(v1::JobSpec spec) {
  JobLimits limits;
  limits.local_slots = options_.local_slots;
  limits.slurm = slurm_ != nullptr;
  const std::string output_dir = check_job_spec(spec, workdir_, limits, options_.check_command);
  JobRecord r;
  r.job.set_name(spec.name().empty() ? spec.kind() : spec.name());
  r.job.set_kind(spec.kind());
  r.job.set_state(v1::JOB_STATE_QUEUED);
  r.job.set_ranks(spec.ranks());
  r.job.set_launcher(spec.launcher());
  r.job.set_exit_code(-1);
  *r.job.mutable_created() = now_timestamp();
  *r.job.mutable_spec() = spec;
  r.workdir = workdir_;
  std::lock_guard<std::mutex> lock(mu_);
  if (!output_dir.empty())
    for (const auto& [id, other] : active_)
      if (other.job.output_dir() == output_dir)
        fail(StatusCode::kFailedPrecondition, "run.output_dir ", output_dir, " is being written by job ", id,
             " (", other.job.name(), ", ", v1::JobState_Name(other.job.state()),
             "): wait for it or cancel it, or give this run another directory");
  store_.insert(r, [&](JobRecord& job) {
    const std::string dir = job_dir(job.job.id());
    fs::create_directories(dir);
    job.job.set_output_dir(job.job.kind() != "sft" ? "" : output_dir.empty() ? dir + "/run" : output_dir);
    job.job.set_log_path(dir + "/output.log");
    if (job.job.kind() == "sft") write_file_atomic(dir + "/config.yaml", job.job.spec().config_yaml());
  });
  LOG(INFO) << "job " << r.job.id() << " (" << r.job.kind() << ", " << r.job.ranks() << " ranks, "
            << r.job.launcher() << "): queued";
  active_.emplace(std::stoll(r.job.id()), r);
  ++version_;
  wake_ = true;  // the monitor starts it now, not at its next poll
  changed_.notify_all();
  return r.job;
}

v1::Job JobScheduler::get(const std::string& id) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = active_.find(job_number(id));
    if (it != active_.end()) return it->second.job;  // with progress not yet stored
  }
  std::optional<JobRecord> r = store_.get(id);
  if (!r) fail(StatusCode::kNotFound, "job '", id, "': no such job (stepwise client jobs list shows them)");
  return r->job;
}

std::vector<v1::Job> JobScheduler::list(const std::vector<v1::JobState>& states, int limit) const {
  std::vector<JobRecord> stored = store_.list(states, limit);
  std::vector<v1::Job> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (JobRecord& r : stored) {
    auto it = active_.find(job_number(r.job.id()));
    out.push_back(it != active_.end() ? it->second.job : r.job);
  }
  return out;
}

v1::Job JobScheduler::cancel(const std::string& id) {
  JobRecord to_signal;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = active_.find(job_number(id));
    if (it != active_.end()) {
      JobRecord& r = it->second;
      if (r.job.state() == v1::JOB_STATE_QUEUED && r.handle.empty()) {
        finish(r, v1::JOB_STATE_CANCELLED, -1, "cancelled before it started");
        const v1::Job ended = r.job;
        active_.erase(it);
        return ended;
      }
      if (r.cancel_requested) return r.job;
      r.cancel_requested = true;
      r.job.set_message("cancelling: stopping the job's processes");
      commit(r);
      // A job still starting is signalled by the monitor once its handle is known.
      if (r.handle.empty() || r.handle == "submitting") return r.job;
      cancel_sent_[it->first] = Clock::now();
      to_signal = r;
    }
  }
  if (to_signal.job.id().empty()) return get(id);  // ended already (or unknown: NOT_FOUND)
  LOG(INFO) << "job " << id << ": cancelling";
  launcher_for(to_signal)->cancel(to_signal, job_dir(id), false);
  return to_signal.job;
}

uint64_t JobScheduler::wait_for_change(uint64_t seen, double timeout_s) const {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_for(lock, std::chrono::duration<double>(timeout_s), [&] { return version_ > seen || stop_; });
  return version_;
}

std::string JobScheduler::log_tail(const JobRecord& r) const {
  std::ifstream in(r.job.log_path());
  std::deque<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (lines.size() > kLogTailLines) lines.pop_front();
  }
  if (lines.empty()) return " (its log " + r.job.log_path() + " is empty)";
  std::string out = "; the last lines of " + r.job.log_path() + ":";
  for (const std::string& l : lines) out += "\n" + l;
  return out;
}

void JobScheduler::read_progress(JobRecord& r) {
  if (r.job.output_dir().empty()) return;
  std::unique_ptr<Progress>& p = progress_[std::stoll(r.job.id())];
  if (!p) p = std::make_unique<Progress>(r.job.output_dir() + "/metrics.jsonl");
  p->read(*r.job.mutable_progress());
}

void JobScheduler::finish(JobRecord& r, v1::JobState state, int exit_code, const std::string& message) {
  const int64_t id = std::stoll(r.job.id());
  read_progress(r);
  r.job.set_state(state);
  r.job.set_exit_code(exit_code);
  r.job.set_message(message);
  *r.job.mutable_finished() = now_timestamp();
  if (state == v1::JOB_STATE_SUCCEEDED && r.job.kind() == "sft") r.job.set_model_dir(r.job.output_dir() + "/model");
  commit(r);
  progress_.erase(id);
  cancel_sent_.erase(id);
  progress_stored_.erase(id);
  LOG(INFO) << "job " << id << ": " << v1::JobState_Name(state) << (message.empty() ? "" : ": ")
            << message.substr(0, message.find('\n'));
}

// With mu_ held: what the launcher said about job `id`.
void JobScheduler::follow(int64_t id, const LaunchStatus& s) {
  auto it = active_.find(id);
  if (it == active_.end()) return;  // cancelled while queued, meanwhile
  JobRecord& r = it->second;
  using Phase = LaunchStatus::Phase;
  if (s.phase == Phase::kQueued || s.phase == Phase::kRunning) {
    if (s.phase == Phase::kRunning && r.job.state() == v1::JOB_STATE_QUEUED) {
      r.job.set_state(v1::JOB_STATE_RUNNING);
      *r.job.mutable_started() = now_timestamp();
      r.job.set_message(s.detail);
      commit(r);
    }
    const v1::JobProgress before = r.job.progress();
    read_progress(r);
    if (r.job.progress().SerializeAsString() != before.SerializeAsString()) {
      Clock::time_point& stored = progress_stored_[id];
      if (Clock::now() - stored > std::chrono::duration<double>(kProgressStoreS)) {
        commit(r);
        stored = Clock::now();
      }
    }
    ++version_;  // new output may be there for the watchers
    changed_.notify_all();
    return;
  }
  const std::string where = reattached_.count(id) ? " (while the coordinator was down)" : "";
  if (s.phase == Phase::kEnded) {
    if (s.cancelled || r.cancel_requested) {
      finish(r, v1::JOB_STATE_CANCELLED, s.exit_code, "cancelled");
    } else if (s.exit_code == 0) {
      finish(r, v1::JOB_STATE_SUCCEEDED, 0, r.job.kind() == "sft" ? "model exported to " + r.job.output_dir() + "/model" : "");
    } else {
      const std::vector<JobStep> steps = plan_job(r, job_dir(r.job.id()));
      const int step = s.failed_step;
      const std::string what = step >= 1 && step <= static_cast<int>(steps.size())
                                   ? "step " + std::to_string(step) + " (" + command_name(steps[step - 1]) + ")"
                                   : "the job";
      finish(r, v1::JOB_STATE_FAILED, s.exit_code,
             what + (s.exit_code < 0 ? " was killed by a signal" : " exited with status " + std::to_string(s.exit_code)) +
                 (s.detail.empty() ? "" : " [" + s.detail + "]") + log_tail(r));
    }
  } else if (r.cancel_requested) {
    finish(r, v1::JOB_STATE_CANCELLED, -1, "cancelled");
  } else {
    finish(r, v1::JOB_STATE_FAILED, -1, "its processes vanished" + where + ": " + s.detail + log_tail(r));
  }
  active_.erase(it);
}

// With mu_ held (`lock`): local jobs in submission order while their ranks fit the free slots (a job that does not
// fit waits, and so do the ones behind it: no starvation of wide jobs); Slurm jobs to sbatch. The launchers are
// called without the lock (sbatch may take a while), after the jobs are marked as starting in the store: a
// coordinator that dies in between must not start a job twice.
void JobScheduler::start_queued(std::unique_lock<std::mutex>& lock) {
  int used = 0;
  for (const auto& [id, r] : active_)
    if (r.job.launcher() == "local" && r.job.state() == v1::JOB_STATE_RUNNING) used += r.job.ranks();
  bool local_blocked = false;
  std::vector<JobRecord> to_start;
  for (auto& [id, r] : active_) {
    if (r.job.state() != v1::JOB_STATE_QUEUED || !r.handle.empty() || r.cancel_requested) continue;
    const bool local = r.job.launcher() == "local";
    if (local && (local_blocked || used + r.job.ranks() > options_.local_slots)) {
      local_blocked = true;
      continue;
    }
    if (!local && !slurm_) {
      finish(r, v1::JOB_STATE_FAILED, -1, "launcher slurm: this coordinator cannot use Slurm any more");
      continue;
    }
    if (local) {
      r.job.set_state(v1::JOB_STATE_RUNNING);
      *r.job.mutable_started() = now_timestamp();
      used += r.job.ranks();
    } else {
      r.handle = "submitting";
    }
    commit(r);
    to_start.push_back(r);
  }
  if (!to_start.empty()) {
    lock.unlock();
    std::vector<std::pair<std::string, std::string>> handles, errors;  // (id, handle or error)
    for (const JobRecord& r : to_start) {
      try {
        const std::string dir = job_dir(r.job.id());
        handles.emplace_back(r.job.id(), launcher_for(r)->start(r, plan_job(r, dir), dir));
      } catch (const StatusError& e) {
        errors.emplace_back(r.job.id(), std::string("could not start: ") + e.what());
      }
    }
    lock.lock();
    for (const auto& [id, handle] : handles) {
      JobRecord& r = active_.at(std::stoll(id));  // running or submitting: nothing removes it meanwhile
      r.handle = handle;
      if (r.job.launcher() == "slurm") {
        r.job.set_slurm_job_id(handle);
        r.job.set_message("submitted to Slurm as job " + handle);
      }
      commit(r);
      LOG(INFO) << "job " << id << ": started (" << (r.job.launcher() == "slurm" ? "Slurm job " : "supervisor ")
                << handle << ")";
    }
    for (const auto& [id, error] : errors) finish(active_.at(std::stoll(id)), v1::JOB_STATE_FAILED, -1, error);
  }
  for (auto it = active_.begin(); it != active_.end();)
    it = job_ended(it->second.job.state()) ? active_.erase(it) : std::next(it);
}

void JobScheduler::monitor() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    // A restart that found a job still "submitting" to Slurm cannot know whether sbatch took it.
    for (auto& [id, r] : active_)
      if (r.handle == "submitting" && reattached_.count(id))
        finish(r, v1::JOB_STATE_FAILED, -1,
               "the coordinator stopped while submitting it to Slurm: look for a Slurm job named stepwise-job-" +
                   r.job.id() + " (squeue --name), cancel it if it is there, and submit again");
    start_queued(lock);
    // Launchers are asked without the lock (squeue may take a while); what they say is applied under it. A local
    // job found RUNNING without a handle (the coordinator died while starting it) is asked too: its supervisor's
    // heartbeat file names it, or it never started.
    std::vector<JobRecord> running;
    for (const auto& [id, r] : active_)
      if ((!r.handle.empty() && r.handle != "submitting") ||
          (r.job.launcher() == "local" && r.job.state() == v1::JOB_STATE_RUNNING))
        running.push_back(r);
    lock.unlock();
    std::vector<std::pair<int64_t, LaunchStatus>> seen;
    for (const JobRecord& r : running) {
      const int64_t id = std::stoll(r.job.id());
      try {
        seen.emplace_back(id, launcher_for(r)->poll(r, job_dir(r.job.id())));
      } catch (const StatusError& e) {
        LOG(WARNING) << "job " << id << ": " << e.what();
      }
    }
    lock.lock();
    for (const auto& [id, status] : seen) follow(id, status);
    start_queued(lock);  // into the slots just freed, not a poll later
    // Cancels: re-sent after a restart; forced when the job outlives the grace period.
    std::vector<std::pair<JobRecord, bool>> to_cancel;
    for (const auto& [id, r] : active_) {
      if (!r.cancel_requested || r.handle.empty() || r.handle == "submitting") continue;
      auto sent = cancel_sent_.find(id);
      if (sent == cancel_sent_.end()) {
        cancel_sent_[id] = Clock::now();
        to_cancel.emplace_back(r, false);
      } else if (Clock::now() - sent->second >
                 std::chrono::duration<double>(options_.cancel_grace_s + kForceAfterGraceS)) {
        sent->second = Clock::now();
        to_cancel.emplace_back(r, true);
      }
    }
    if (!to_cancel.empty()) {
      lock.unlock();
      for (const auto& [r, force] : to_cancel) launcher_for(r)->cancel(r, job_dir(r.job.id()), force);
      lock.lock();
    }
    changed_.wait_for(lock, std::chrono::duration<double>(options_.poll_interval_s), [&] { return stop_ || wake_; });
    wake_ = false;
  }
}

}  // namespace stepwise::serve
