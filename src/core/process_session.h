// Processes by session: a job's supervisor starts a session of its own (setsid), and every process it starts —
// mpirun, and Open MPI's ranks, which each move to a process group of their own — stays in that session. So "every
// process of the job" is "every process whose session id is the supervisor's pid", found by reading /proc. A pid
// is named together with its start time (ProcessIdentity), so that a pid reused after the process ended is never
// taken for it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace stepwise {

struct ProcessIdentity {
  pid_t pid = -1;
  uint64_t start_ticks = 0;  // field 22 of /proc/PID/stat: clock ticks after boot
  std::string to_string() const;                        // "PID:START"
  static ProcessIdentity parse(const std::string& text);  // pid -1 when it is not "PID:START"
};

// The identity of a running process (pid -1 when there is none).
ProcessIdentity identify_process(pid_t pid);
// The process still runs (exists, is not a zombie, and started when it did).
bool process_alive(const ProcessIdentity& who);

// The live (non-zombie) processes of session `sid`, leader included.
std::vector<pid_t> session_processes(pid_t sid);
// Sends `signal` to each of them but `except`; returns how many were signalled.
int signal_session(pid_t sid, int signal, pid_t except = -1);

}  // namespace stepwise
