// JobStore: SQLite statements over the jobs table.
#include "serve/job_store.h"

#include <filesystem>

#include "core/status.h"

namespace stepwise::serve {

namespace {

// A prepared statement, finalized when it goes out of scope.
struct Statement {
  sqlite3_stmt* s = nullptr;
  ~Statement() { sqlite3_finalize(s); }
};

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS jobs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL, kind TEXT NOT NULL, state INTEGER NOT NULL, output_dir TEXT NOT NULL,"
    "  workdir TEXT NOT NULL, handle TEXT NOT NULL DEFAULT '', cancel_requested INTEGER NOT NULL DEFAULT 0,"
    "  job BLOB NOT NULL);"  // stepwise.v1.Job, serialized
    "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state);";

// Parameters 1-7 of the insert and the update: name, kind, state, output_dir, workdir, handle, cancel_requested.
void bind_columns(sqlite3_stmt* s, const JobRecord& r) {
  sqlite3_bind_text(s, 1, r.job.name().c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 2, r.job.kind().c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(s, 3, r.job.state());
  sqlite3_bind_text(s, 4, r.job.output_dir().c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 5, r.workdir.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 6, r.handle.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(s, 7, r.cancel_requested ? 1 : 0);
}

}  // namespace

bool job_ended(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED || state == v1::JOB_STATE_CANCELLED;
}

JobStore::JobStore(const std::string& state_dir) : path_(state_dir + "/jobs.db") {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) invalid_argument("--state-dir ", state_dir, ": cannot create it (", ec.message(), ")");
  if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    invalid_argument("job store ", path_, ": cannot open it (", why, "); check --state-dir");
  }
  sqlite3_busy_timeout(db_, 5000);
  // WAL: readers never block the writer; FULL: a committed state change survives a power cut, not only a crash.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=FULL");
  exec(kSchema);
}

JobStore::~JobStore() { sqlite3_close(db_); }

void JobStore::check(int rc, const char* what) const {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    fail(StatusCode::kInternal, "job store ", path_, ": ", what, ": ", sqlite3_errmsg(db_),
         " (is the disk full, or the file damaged? the jobs are in its tables)");
}

void JobStore::exec(const char* sql) const {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string why = error ? error : "unknown error";
    sqlite3_free(error);
    fail(StatusCode::kInternal, "job store ", path_, ": ", why, " (in: ", sql, ")");
  }
}

void JobStore::insert(JobRecord& r, const std::function<void(JobRecord&)>& complete) {
  std::lock_guard<std::mutex> lock(mu_);
  exec("BEGIN IMMEDIATE");
  try {
    Statement st;
    check(sqlite3_prepare_v2(db_,
                             "INSERT INTO jobs(name, kind, state, output_dir, workdir, handle, cancel_requested, job) "
                             "VALUES(?, ?, ?, ?, ?, ?, ?, x'')",
                             -1, &st.s, nullptr),
          "prepare insert");
    bind_columns(st.s, r);
    check(sqlite3_step(st.s), "insert a job");
    // The id is the row's: the job blob carries it too, so it is written once the id is known (same transaction).
    const int64_t id = sqlite3_last_insert_rowid(db_);
    r.job.set_id(std::to_string(id));
    complete(r);
    Statement up;
    check(sqlite3_prepare_v2(db_, "UPDATE jobs SET output_dir = ?, job = ? WHERE id = ?", -1, &up.s, nullptr),
          "prepare insert");
    const std::string blob = r.job.SerializeAsString();
    sqlite3_bind_text(up.s, 1, r.job.output_dir().c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(up.s, 2, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(up.s, 3, id);
    check(sqlite3_step(up.s), "insert a job");
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void JobStore::update(const JobRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement st;
  check(sqlite3_prepare_v2(db_,
                           "UPDATE jobs SET name = ?, kind = ?, state = ?, output_dir = ?, workdir = ?, handle = ?, "
                           "cancel_requested = ?, job = ? WHERE id = ?",
                           -1, &st.s, nullptr),
        "prepare update");
  const std::string blob = r.job.SerializeAsString();
  bind_columns(st.s, r);
  sqlite3_bind_blob(st.s, 8, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(st.s, 9, std::stoll(r.job.id()));
  // One statement outside BEGIN/COMMIT is its own transaction.
  check(sqlite3_step(st.s), "update a job");
}

std::vector<JobRecord> JobStore::query(const std::string& sql) const {
  std::lock_guard<std::mutex> lock(mu_);
  Statement st;
  check(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st.s, nullptr), "prepare a query");
  std::vector<JobRecord> out;
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
    JobRecord r;
    const void* blob = sqlite3_column_blob(st.s, 0);
    const int size = sqlite3_column_bytes(st.s, 0);
    if (!r.job.ParseFromArray(blob, size))
      fail(StatusCode::kDataLoss, "job store ", path_, ": job ", sqlite3_column_int64(st.s, 4),
           " does not parse as a stepwise.v1.Job (written by another program?)");
    r.workdir = reinterpret_cast<const char*>(sqlite3_column_text(st.s, 1));
    r.handle = reinterpret_cast<const char*>(sqlite3_column_text(st.s, 2));
    r.cancel_requested = sqlite3_column_int(st.s, 3) != 0;
    out.push_back(std::move(r));
  }
  check(rc, "read jobs");
  return out;
}

namespace {
constexpr const char* kColumns = "SELECT job, workdir, handle, cancel_requested, id FROM jobs ";
}

std::optional<JobRecord> JobStore::get(const std::string& id) const {
  char* end = nullptr;
  const long long n = std::strtoll(id.c_str(), &end, 10);
  if (id.empty() || *end != '\0' || n <= 0) return std::nullopt;
  std::vector<JobRecord> found = query(std::string(kColumns) + "WHERE id = " + std::to_string(n));
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

std::vector<JobRecord> JobStore::list(const std::vector<v1::JobState>& states, int limit) const {
  std::string sql = kColumns;
  if (!states.empty()) {
    sql += "WHERE state IN (";
    for (size_t i = 0; i < states.size(); ++i) sql += (i ? "," : "") + std::to_string(static_cast<int>(states[i]));
    sql += ") ";
  }
  sql += "ORDER BY id DESC";
  if (limit > 0) sql += " LIMIT " + std::to_string(limit);
  return query(sql);
}

std::vector<JobRecord> JobStore::active() const {
  return query(std::string(kColumns) + "WHERE state IN (" + std::to_string(v1::JOB_STATE_QUEUED) + "," +
               std::to_string(v1::JOB_STATE_RUNNING) + ") ORDER BY id");
}

}  // namespace stepwise::serve
