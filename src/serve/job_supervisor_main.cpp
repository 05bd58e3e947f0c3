// stepwise-job-supervisor JOB_DIR: the supervisor of one local job (serve/job_supervisor.h). The coordinator starts
// it; people do not.
#include <cstdio>
#include <exception>

#include "serve/job_supervisor.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: stepwise-job-supervisor JOB_DIR (started by `stepwise serve --state-dir`)\n");
    return 2;
  }
  try {
    return stepwise::serve::run_job_supervisor(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stepwise-job-supervisor %s: error: %s\n", argv[1], e.what());
    return 1;
  }
}
