// glog set-up shared by the CLI, tests and benchmarks.
#include "core/logging.h"

#include <glog/logging.h>

namespace stepwise {

void init_logging(const char* argv0) {
  static bool done = false;
  if (done) return;
  done = true;
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 0;
  google::InitGoogleLogging(argv0);
}

void set_log_rank(int rank) {
  if (rank != 0) FLAGS_minloglevel = 1;  // WARNING and above
}

}  // namespace stepwise
