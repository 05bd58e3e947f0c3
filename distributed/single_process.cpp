// A group of one rank: reductions and broadcasts are the identity; gathers and scatters are copies.
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
  void all_reduce(Tensor&, ReduceOp) override {}
  void reduce_scatter(Tensor& out, const Tensor& in, ReduceOp) override { copy(out, in); }
  void all_gather(Tensor& out, const Tensor& in) override { copy(out, in); }
  void broadcast(Tensor&, int root) override { SW_CHECK(root == 0, "broadcast root ", root, " in a group of 1"); }
  void barrier() override {}

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
