// main() of the multi-rank GoogleTest binaries (run under mpirun): MPI for the whole run, the normal report from
// rank 0, and from the other ranks only their failures, prefixed with the rank.
#include <gtest/gtest.h>

#include <cstdio>

#include "core/logging.h"
#include "distributed/mpi_runtime.h"

namespace {

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?",
                   r.line_number(), r.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  stepwise::init_logging(argv[0]);
  const stepwise::MpiRuntime mpi;
  if (mpi.world_rank() != 0) {
    ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(mpi.world_rank()));
  }
  return RUN_ALL_TESTS();
}
