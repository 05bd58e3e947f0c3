// Reading /proc/PID/stat: state, session and start time.
#include "core/process_session.h"

#include <dirent.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace stepwise {

namespace {

struct ProcStat {
  bool ok = false;
  char state = '?';
  pid_t session = -1;
  uint64_t start_ticks = 0;
};

// The command name (field 2) is in parentheses and may hold spaces and ')': the fields after it start after the
// last ')'.
ProcStat read_stat(pid_t pid) {
  ProcStat s;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return s;
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return s;
  std::istringstream fields(text.substr(close + 1));
  std::string f;
  // Fields 3.. : state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt, majflt, cmajflt, utime, stime,
  // cutime, cstime, priority, nice, num_threads, itrealvalue, starttime (22).
  std::vector<std::string> v;
  while (v.size() < 20 && fields >> f) v.push_back(f);
  if (v.size() < 20) return s;
  s.state = v[0].empty() ? '?' : v[0][0];
  s.session = static_cast<pid_t>(std::atol(v[3].c_str()));
  s.start_ticks = std::strtoull(v[19].c_str(), nullptr, 10);
  s.ok = true;
  return s;
}

bool zombie(const ProcStat& s) { return s.state == 'Z' || s.state == 'X'; }

}  // namespace

std::string ProcessIdentity::to_string() const { return std::to_string(pid) + ":" + std::to_string(start_ticks); }

ProcessIdentity ProcessIdentity::parse(const std::string& text) {
  ProcessIdentity who;
  const size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0) return who;
  char* end = nullptr;
  const long pid = std::strtol(text.c_str(), &end, 10);
  if (end != text.c_str() + colon || pid <= 0) return who;
  who.pid = static_cast<pid_t>(pid);
  who.start_ticks = std::strtoull(text.c_str() + colon + 1, nullptr, 10);
  return who;
}

ProcessIdentity identify_process(pid_t pid) {
  const ProcStat s = read_stat(pid);
  if (!s.ok || zombie(s)) return {};
  return {pid, s.start_ticks};
}

bool process_alive(const ProcessIdentity& who) {
  if (who.pid <= 0) return false;
  const ProcStat s = read_stat(who.pid);
  return s.ok && !zombie(s) && s.start_ticks == who.start_ticks;
}

std::vector<pid_t> session_processes(pid_t sid) {
  std::vector<pid_t> found;
  if (sid <= 0) return found;
  DIR* proc = opendir("/proc");
  if (!proc) return found;
  while (const dirent* e = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    const ProcStat s = read_stat(static_cast<pid_t>(pid));
    if (s.ok && !zombie(s) && s.session == sid) found.push_back(static_cast<pid_t>(pid));
  }
  closedir(proc);
  return found;
}

int signal_session(pid_t sid, int signal, pid_t except) {
  int n = 0;
  for (pid_t pid : session_processes(sid))
    if (pid != except && kill(pid, signal) == 0) ++n;
  return n;
}

}  // namespace stepwise
