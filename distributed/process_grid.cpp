// The 1 x 1 process grid of a single-process run.
#include "distributed/process_grid.h"

namespace stepwise {

ProcessGrid make_single_process_grid() {
  ProcessGrid g;
  g.world = make_single_process_communicator("world");
  g.tp = make_single_process_communicator("tp");
  g.dp = make_single_process_communicator("dp");
  return g;
}

}  // namespace stepwise
