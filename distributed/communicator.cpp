// What every backend shares: traffic accounting, the watchdog scope of a collective, and scalar sums.
#include "distributed/communicator.h"

#include <chrono>
#include <climits>

#include "core/status.h"
#include "distributed/watchdog.h"

namespace stepwise {

namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

const char* collective_name(Collective c) {
  switch (c) {
    case Collective::kAllReduce: return "all_reduce";
    case Collective::kReduceScatter: return "reduce_scatter";
    case Collective::kAllGather: return "all_gather";
    case Collective::kBroadcast: return "broadcast";
    case Collective::kBarrier: return "barrier";
  }
  return "?";
}

double ring_bytes_per_rank(Collective c, double payload_bytes, int ranks) {
  const double p = ranks, share = (p - 1) / p * payload_bytes;
  switch (c) {
    case Collective::kAllReduce: return 2 * share;  // reduce-scatter, then all-gather
    case Collective::kReduceScatter:
    case Collective::kAllGather:
    case Collective::kBroadcast: return share;
    case Collective::kBarrier: return 0;
  }
  return 0;
}

CollectiveTraffic CommTraffic::total() const {
  CollectiveTraffic t;
  for (const CollectiveTraffic& c : by_collective) {
    t.calls += c.calls;
    t.payload_bytes += c.payload_bytes;
    t.ring_bytes_sent += c.ring_bytes_sent;
    t.seconds += c.seconds;
  }
  return t;
}

Communicator::Scope::Scope(Communicator& comm, Collective c, size_t payload_bytes)
    : comm_(comm), collective_(c), payload_bytes_(payload_bytes), start_(now_seconds()) {
  if (comm.size() > 1) watchdog_arm(comm, c, payload_bytes);
}

Communicator::Scope::~Scope() {
  if (comm_.size() > 1) watchdog_disarm();
  CollectiveTraffic& t = comm_.traffic_.by_collective[static_cast<int>(collective_)];
  ++t.calls;
  t.payload_bytes += static_cast<int64_t>(payload_bytes_);
  t.ring_bytes_sent += ring_bytes_per_rank(collective_, static_cast<double>(payload_bytes_), comm_.size());
  t.seconds += now_seconds() - start_;
}

std::string Communicator::where(Collective c) const {
  return detail::concat(collective_name(c), " over ", name(), " (rank ", rank(), " of ", size(), ")");
}

void Communicator::check_tensor(Collective c, const Tensor& t) const {
  if (t.device() != device())
    invalid_argument(where(c), ": this communicator takes ", device_name(device()), " tensors, got ", t.describe(),
                     "; a process grid made for Device::kCUDA communicates GPU tensors over NCCL, one made for ",
                     "Device::kCPU CPU tensors over MPI");
  if (!t.defined() && t.numel() > 0) invalid_argument(where(c), ": undefined tensor");
}

void Communicator::check_shard(Collective c, const Tensor& part, const Tensor& whole) const {
  check_tensor(c, part);
  check_tensor(c, whole);
  if (part.dtype() != whole.dtype())
    invalid_argument(where(c), ": dtypes differ (", part.describe(), " vs ", whole.describe(), ")");
  if (whole.numel() != part.numel() * size())
    invalid_argument(where(c), ": the full buffer ", whole.describe(), " must hold ", size(), " x the shard ",
                     part.describe(), "; pad the buffer to a multiple of the group size");
}

bool Communicator::is_rank_slice(const Tensor& part, const Tensor& whole) const {
  const char *p = static_cast<const char*>(part.data()), *w = static_cast<const char*>(whole.data());
  if (p == w + rank() * part.nbytes()) return true;
  SW_CHECK(p >= w + whole.nbytes() || w >= p + part.nbytes(), "group ", name(),
           ": collective buffers overlap other than in place");
  return false;
}

int64_t sum_over_ranks(Communicator& comm, int64_t value) {
  if (comm.size() == 1) return value;
  if (value > INT32_MAX / comm.size() || value < INT32_MIN / comm.size())
    invalid_argument("sum_over_ranks over ", comm.name(), ": ", value, " on ", comm.size(),
                     " ranks could overflow the int32 sum");
  Tensor t = Tensor::from_vector(std::vector<int32_t>{static_cast<int32_t>(value)}, {1});
  Tensor on_device = t.to(comm.device());
  comm.all_reduce(on_device, ReduceOp::kSum);
  return on_device.to(Device::kCPU).data_as<int32_t>()[0];
}

double sum_over_ranks(Communicator& comm, double value) {
  if (comm.size() == 1) return value;  // exact, and no device round trip
  Tensor on_device = Tensor::from_vector(std::vector<float>{static_cast<float>(value)}, {1}).to(comm.device());
  comm.all_reduce(on_device, ReduceOp::kSum);
  return on_device.to(Device::kCPU).data_as<float>()[0];
}

}  // namespace stepwise
