// JobStore: the coordinator's jobs in SQLite (STATE_DIR/jobs.db, write-ahead log, synchronous=FULL). Each job is a
// row: its stepwise.v1.Job (spec, state, times, progress; serialized, so new fields need no migration) beside the
// columns a person or a query wants (state, kind, name, output_dir) and what only the coordinator needs to find
// the job's processes again after a restart (the launcher's handle, the working directory, a cancel requested).
// Every change is one transaction, committed before the caller acts on it.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "stepwise/v1/jobs.pb.h"

namespace stepwise::serve {

struct JobRecord {
  v1::Job job;
  std::string workdir;  // the job's working directory (the coordinator's, at submit): relative paths are from here
  std::string handle;   // local: the supervisor's "PID:START"; slurm: the Slurm job id; empty until launched
  bool cancel_requested = false;
};

bool job_ended(v1::JobState state);  // SUCCEEDED, FAILED or CANCELLED

class JobStore {
 public:
  // Opens (creating) DIR/jobs.db. Errors name the file and what to do.
  explicit JobStore(const std::string& state_dir);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Stores a new job in one transaction: its id (decimal, increasing) is set in `record`, then `complete` runs
  // (it may set fields that depend on the id, and write the job's files); when it throws nothing is stored.
  void insert(JobRecord& record, const std::function<void(JobRecord&)>& complete);
  void update(const JobRecord& record);
  std::optional<JobRecord> get(const std::string& id) const;
  // Newest first; `states` empty: every state; limit 0: all.
  std::vector<JobRecord> list(const std::vector<v1::JobState>& states = {}, int limit = 0) const;
  // Queued and running jobs, oldest first.
  std::vector<JobRecord> active() const;

  const std::string& path() const { return path_; }

 private:
  void exec(const char* sql) const;
  void check(int rc, const char* what) const;
  std::vector<JobRecord> query(const std::string& sql) const;

  std::string path_;
  sqlite3* db_ = nullptr;
  mutable std::mutex mu_;
};

}  // namespace stepwise::serve
