// The collective watchdog thread and the job-wide abort.
#include "distributed/watchdog.h"

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "core/status.h"
#include "distributed/mpi_runtime.h"

namespace stepwise {

namespace {

using Clock = std::chrono::steady_clock;

double timeout_from_env() {
  const char* s = std::getenv("STEPWISE_COLLECTIVE_TIMEOUT_S");
  if (!s || !*s) return 600.0;
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (*end != '\0' || v < 0)
    invalid_argument("STEPWISE_COLLECTIVE_TIMEOUT_S='", s, "' is not a non-negative number of seconds");
  return v;
}

std::string world_rank_prefix() {
  int rank = 0;
  if (!mpi_running() || MPI_Comm_rank(MPI_COMM_WORLD, &rank) != MPI_SUCCESS) return "";
  return "world rank " + std::to_string(rank) + ", ";
}

// The pending collective and the thread that checks its deadline. The thread polls (a few times per timeout, at
// most once a second) rather than being signalled, so arming costs a lock and two stores.
class Watchdog {
 public:
  static Watchdog& instance() {
    static Watchdog w;
    return w;
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  double timeout() {
    std::lock_guard<std::mutex> lock(mu_);
    return timeout_;
  }
  void set_timeout(double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    timeout_ = seconds;
  }

  // A collective of `comm`, or (comm null) the set-up step `setup_step`.
  void arm(const Communicator* comm, Collective c, size_t bytes, const std::string& setup_step = "") {
    std::lock_guard<std::mutex> lock(mu_);
    if (timeout_ <= 0) return;
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    comm_ = comm;
    collective_ = c;
    bytes_ = bytes;
    setup_step_ = setup_step;
    armed_at_ = Clock::now();
    armed_ = true;
  }
  void disarm() {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = false;
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      const auto poll = std::chrono::duration<double>(std::min(1.0, std::max(0.05, timeout_ / 4)));
      cv_.wait_for(lock, poll);
      if (stop_ || !armed_ || timeout_ <= 0) continue;
      const double waited = std::chrono::duration<double>(Clock::now() - armed_at_).count();
      if (waited < timeout_) continue;
      const std::string advice = "Aborting the job (raise STEPWISE_COLLECTIVE_TIMEOUT_S if a peer legitimately "
                                 "needs longer)";
      if (!comm_)
        abort_job(detail::concat(world_rank_prefix(), "set-up step '", setup_step_,
                                 "' did not complete within the collective timeout of ", timeout_,
                                 " s; a peer rank has failed or has not reached it. ", advice));
      abort_job(detail::concat(world_rank_prefix(), "rank ", comm_->rank(), " of group ", comm_->name(), " (size ",
                               comm_->size(), "): collective ", collective_name(collective_), " of ", bytes_,
                               " bytes did not complete within the collective timeout of ", timeout_,
                               " s; a peer rank has failed or stopped calling collectives. ", advice));
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  double timeout_ = timeout_from_env();
  bool stop_ = false, armed_ = false;
  const Communicator* comm_ = nullptr;  // null: a set-up step (setup_step_) is armed
  std::string setup_step_;
  Collective collective_ = Collective::kBarrier;
  size_t bytes_ = 0;
  Clock::time_point armed_at_;
};

}  // namespace

void set_collective_timeout(double seconds) {
  if (seconds < 0) invalid_argument("the collective timeout must be >= 0 seconds, got ", seconds);
  Watchdog::instance().set_timeout(seconds);
}

double collective_timeout() { return Watchdog::instance().timeout(); }

void watchdog_arm(const Communicator& comm, Collective collective, size_t payload_bytes) {
  Watchdog::instance().arm(&comm, collective, payload_bytes);
}

void watchdog_disarm() { Watchdog::instance().disarm(); }

SetupDeadline::SetupDeadline(const std::string& what) {
  Watchdog::instance().arm(nullptr, Collective::kBarrier, 0, what);
}
SetupDeadline::~SetupDeadline() { Watchdog::instance().disarm(); }

void abort_job(const std::string& message) {
  std::fprintf(stderr, "stepwise: fatal: %s\n", message.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  if (mpi_running()) MPI_Abort(MPI_COMM_WORLD, 1);
  _exit(1);
}

}  // namespace stepwise
