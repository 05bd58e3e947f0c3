// Talking to the test cluster: sbatch, the job-completion log, scontrol, scancel.
#include "slurm_test_util.h"

#include <chrono>
#include <cstdlib>
#include <regex>
#include <sstream>
#include <thread>

namespace stepwise::launch_test {

namespace {

constexpr double kCommandTimeoutS = 60;  // one Slurm command on a loaded machine

// The value of `key=` in a line of `key=value` words ("" when absent).
std::string field(const std::string& line, const std::string& key) {
  std::smatch m;
  return std::regex_search(line, m, std::regex("(^|\\s)" + key + "=(\\S*)")) ? m[2].str() : "";
}

std::string job_comp_log() {
  const test::ProcessResult r = test::run_process("scontrol show config", {"", kCommandTimeoutS});
  std::smatch m;
  return std::regex_search(r.out, m, std::regex("JobCompLoc\\s*=\\s*(\\S+)")) ? m[1].str() : "";
}

// The last line of the job-completion log for the job ("" when it has not ended).
std::string job_record(const std::string& log, long job_id) {
  const test::ProcessResult r = test::run_process(
      "grep '^JobId=" + std::to_string(job_id) + " ' " + shell_quote(log) + " | tail -n 1", {"", kCommandTimeoutS});
  return r.out.substr(0, r.out.find('\n'));
}

}  // namespace

std::string slurm_problem() {
  const char* conf = std::getenv("SLURM_CONF");
  if (!conf || !*conf)
    return "SLURM_CONF is not set: start the test cluster with scripts/slurm-local.sh start and export SLURM_CONF "
           "as it says (ctest does both in the test slurm_local_start)";
  const test::ProcessResult ping = test::run_process("scontrol ping", {"", kCommandTimeoutS});
  if (ping.output().find("is UP") == std::string::npos)
    return std::string("the Slurm of SLURM_CONF=") + conf + " does not answer (scontrol ping: " + ping.output() +
           "); see scripts/slurm-local.sh status";
  if (job_comp_log().empty())
    return std::string("the Slurm of SLURM_CONF=") + conf +
           " has no job-completion log (JobCompType=jobcomp/filetxt, JobCompLoc): use scripts/slurm-local.sh";
  return "";
}

SubmitResult sbatch(const std::string& cwd, const std::string& env, const std::string& args) {
  SubmitResult s;
  s.sbatch = test::run_process("cd " + shell_quote(cwd) + " && env " + env + " sbatch --parsable " + args,
                               {"", kCommandTimeoutS});
  std::smatch m;
  if (s.sbatch.exit_code == 0 && std::regex_search(s.sbatch.out, m, std::regex("^(\\d+)")))
    s.job_id = std::stol(m[1].str());
  return s;
}

JobEnd wait_for_job_end(long job_id, double timeout_s) {
  const std::string log = job_comp_log();
  const auto t0 = std::chrono::steady_clock::now();
  JobEnd end;
  for (;;) {
    end.waited_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    end.record = job_record(log, job_id);
    if (!end.record.empty() || end.waited_s > timeout_s) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  end.ended = !end.record.empty();
  end.state = field(end.record, "JobState");
  end.exit_code = field(end.record, "ExitCode");
  return end;
}

std::string job_state(long job_id) {
  return field(test::run_process("scontrol -o show job " + std::to_string(job_id), {"", kCommandTimeoutS}).output(),
               "JobState");
}

bool job_active(long job_id) {
  const std::string state = job_state(job_id);
  return state == "PENDING" || state == "CONFIGURING" || state == "RUNNING";
}

long rank_pid(long job_id, int step, int rank) {
  // PID JOBID STEPID LOCALID GLOBALID, one line per process of the job.
  std::istringstream lines(
      test::run_process("scontrol listpids " + std::to_string(job_id), {"", kCommandTimeoutS}).output());
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string pid, job, step_id, local_id, global_id;
    if (words >> pid >> job >> step_id >> local_id >> global_id && step_id == std::to_string(step) &&
        global_id == std::to_string(rank))
      return std::stol(pid);
  }
  return -1;
}

JobGuard::~JobGuard() {
  if (job_id_ >= 0)
    test::run_process("scancel " + std::to_string(job_id_), {"", kCommandTimeoutS});  // a no-op once it ended
}

}  // namespace stepwise::launch_test
