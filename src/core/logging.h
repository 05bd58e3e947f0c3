// Logging through glog: to stderr, no log files; in multi-rank runs only rank 0 logs INFO.
#pragma once

namespace stepwise {

void init_logging(const char* argv0);
// Ranks other than 0 keep only warnings and errors (called once the rank is known).
void set_log_rank(int rank);

}  // namespace stepwise
