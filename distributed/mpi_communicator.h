// The MPI backend of Communicator: collectives on CPU tensors (f32, i32, bf16, f16) over an MPI communicator.
// bf16 and f16 reductions use custom MPI operations that add (or take the max) in f32 and round back, as NCCL does.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>

#include "distributed/communicator.h"

namespace stepwise {

// Takes ownership of `comm` (freed with the communicator, if MPI is still running).
std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm, const std::string& name);

}  // namespace stepwise
