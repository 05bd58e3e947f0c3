// The collective watchdog: a deadline on every collective of a multi-rank job. A peer that died or stopped
// calling collectives would otherwise leave the others waiting forever; instead, when a collective has not
// completed within the timeout, a watchdog thread prints which collective, group, rank and timeout, and ends the
// whole job: MPI_Abort(MPI_COMM_WORLD, 1) when MPI is running, else the process exits with status 1 (and the
// launcher takes down its peers).
//
// The timeout is STEPWISE_COLLECTIVE_TIMEOUT_S (seconds, default 600: long enough for a peer still loading a large
// checkpoint) or set_collective_timeout(); 0 disables the watchdog.
#pragma once

#include <cstddef>
#include <string>

#include "distributed/communicator.h"

namespace stepwise {

void set_collective_timeout(double seconds);
double collective_timeout();

// Arms the deadline for one collective of `comm` (alive until disarmed). Collectives do not nest; one thread
// issues them. The watchdog thread starts with the first armed collective.
void watchdog_arm(const Communicator& comm, Collective collective, size_t payload_bytes);
void watchdog_disarm();

// The same deadline over a set-up step that every rank must reach before communicators exist (the splits of
// MPI_COMM_WORLD, the NCCL id exchange and ncclCommInitRank): a peer that never gets there would otherwise leave
// the others waiting forever. Armed for the object's lifetime; `what` names the step in the abort message.
class SetupDeadline {
 public:
  explicit SetupDeadline(const std::string& what);
  ~SetupDeadline();
  SetupDeadline(const SetupDeadline&) = delete;
  SetupDeadline& operator=(const SetupDeadline&) = delete;
};

// Ends the job from any thread after printing `message` to stderr: MPI_Abort(MPI_COMM_WORLD, 1) when MPI is
// initialised (and not finalised), else _exit(1). Shared by the watchdog and MpiRuntime's error handler.
[[noreturn]] void abort_job(const std::string& message);

}  // namespace stepwise
