// MPI_CHECK: an MPI call whose failure becomes a StatusError naming the call, file:line and MPI's own message.
// (MPI's default handler aborts on error; the communicators set MPI_ERRORS_RETURN so that errors arrive here.)
#pragma once

#include <mpi.h>

#include <string>

namespace stepwise::detail {
[[noreturn]] void mpi_failed(int code, const char* call, const char* file, int line);
}  // namespace stepwise::detail

#define MPI_CHECK(call)                                                                                             \
  do {                                                                                                              \
    const int mpi_check_code_ = (call);                                                                             \
    if (mpi_check_code_ != MPI_SUCCESS) ::stepwise::detail::mpi_failed(mpi_check_code_, #call, __FILE__, __LINE__); \
  } while (0)
