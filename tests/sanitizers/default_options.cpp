// The sanitizer build's run-time options, compiled into every program of build-asan (top-level CMakeLists.txt),
// so that a test binary, the stepwise binary under mpirun or a fuzz target reproduces a finding when simply run
// again, with no environment to set. ASAN_OPTIONS, UBSAN_OPTIONS and LSAN_OPTIONS still override them.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

// Whether this process's environment holds `name=...`. The sanitizers ask for their options while they start,
// before the C library has set up getenv and before their own interceptors of open, read and strlen work, so
// /proc/self/environ is read with raw system calls and compared by hand.
bool in_environment(const char* name) {
  static char env[1 << 18];
  const long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/environ", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  long size = 0, got = 0;
  while (size < static_cast<long>(sizeof env) && (got = syscall(SYS_read, fd, env + size, sizeof env - size)) > 0)
    size += got;
  syscall(SYS_close, fd);
  for (long entry = 0; entry < size;) {  // NUL-separated NAME=value entries
    long i = 0;
    while (name[i] && entry + i < size && env[entry + i] == name[i]) ++i;
    if (!name[i] && entry + i < size && env[entry + i] == '=') return true;
    while (entry < size && env[entry]) ++entry;
    ++entry;
  }
  return false;
}

}  // namespace

extern "C" {

// Any report stops the process: ASan at the first error, UBSan too (the code is also built with
// -fno-sanitize-recover), LeakSanitizer at exit. Stack use after return and initialization order are checked too.
const char* __asan_default_options() {
  return "detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:"
         "strict_string_checks=1";
}

const char* __ubsan_default_options() { return "print_stacktrace=1:halt_on_error=1"; }

// In an MPI rank, each allocation's stack is unwound the slow way: Debian's Open MPI is built without frame
// pointers, and only that unwinder reaches from an allocation in an Open MPI plugin (unloaded at exit, so nameless
// in the report) back into libmpi, where the suppressions below recognise it. A rank is known by its launcher's
// variables: mpirun sets OMPI_COMM_WORLD_SIZE, srun (Slurm's direct launch, launch/slurm/sft.sbatch) sets
// SLURM_PROCID. It costs 5x in malloc-heavy tests, so other processes keep the fast unwinder. Dynamic TLS is not
// tracked there either: Open MPI unloads plugins that hold thread-local storage at MPI_Finalize, which leaves stale
// DTLS records behind, and LeakSanitizer's tracer crashed on one in every rank at exit ("DTLS 20 at
// 0x692a-0x400007a2c", "Tracer caught signal 11" in Launch.ScalingBenchBytesEqualTheAnalyticCounts with 4 ranks:
// in every run for a while, after many clean ones).
const char* __lsan_default_options() {
  return in_environment("OMPI_COMM_WORLD_SIZE") || in_environment("SLURM_PROCID")
             ? "print_suppressions=0:fast_unwind_on_malloc=0:intercept_tls_get_addr=0"
             : "";
}

// The only leaks suppressed: memory Open MPI (4.1, Debian 12) keeps from MPI_Init to exit, some of it allocated by
// plugins it unloads at MPI_Finalize. A leak is suppressed when any frame of its allocation's stack lies in one of
// these libraries: Open MPI's own and those it brings (PMIx, hwloc, libevent). None may name stepwise code
// (src/, kernels/, distributed/): a leak there is a finding to fix.
const char* __lsan_default_suppressions() {
  return "leak:libmpi.so\n"
         "leak:libopen-pal.so\n"
         "leak:libopen-rte.so\n"
         "leak:libpmix.so\n"
         "leak:libhwloc.so\n"
         "leak:libevent\n";
}

}  // extern "C"
