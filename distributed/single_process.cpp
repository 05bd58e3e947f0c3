// A group of one rank: reductions and broadcasts are the identity; gathers and scatters are copies. Calls are
// still counted (with zero bytes sent), so tests can count a model's collectives on one process.
#include "core/status.h"
#include "distributed/communicator.h"

namespace stepwise {

namespace {

class SingleProcessCommunicator final : public Communicator {
 public:
  explicit SingleProcessCommunicator(std::string name) : name_(std::move(name)) {}
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return name_; }
  Device device() const override { return Device::kCPU; }
  void all_reduce(Tensor& t, ReduceOp) override { Scope s(*this, Collective::kAllReduce, t.nbytes()); }
  void reduce_scatter(Tensor& out, const Tensor& in, ReduceOp) override {
    Scope s(*this, Collective::kReduceScatter, in.nbytes());
    copy(out, in);
  }
  void all_gather(Tensor& out, const Tensor& in) override {
    Scope s(*this, Collective::kAllGather, out.nbytes());
    copy(out, in);
  }
  void broadcast(Tensor& t, int root) override {
    SW_CHECK(root == 0, "broadcast root ", root, " in a group of 1");
    Scope s(*this, Collective::kBroadcast, t.nbytes());
  }
  void barrier() override { Scope s(*this, Collective::kBarrier, 0); }

 private:
  static void copy(Tensor& out, const Tensor& in) {
    if (out.data() != in.data()) out.copy_from(in.reshape(out.shape()));
  }
  std::string name_;
};

}  // namespace

std::unique_ptr<Communicator> make_single_process_communicator(const std::string& name) {
  return std::make_unique<SingleProcessCommunicator>(name);
}

}  // namespace stepwise
