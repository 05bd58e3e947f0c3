// The MPI communicator under mpirun (2 or 4 ranks): every collective, for every dtype (f32, i32, bf16, f16) and
// reduction, in and out of place, over the world and over the TP and DP groups of the grid; the traffic counts;
// the grid's layout and its errors. Expected values are computed from the rank numbers, independently of MPI.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>

#include "core/rng.h"
#include "core/status.h"
#include "distributed/process_grid.h"

namespace stepwise::testing {
namespace {

const DType kDTypes[] = {DType::kF32, DType::kI32, DType::kBF16, DType::kF16};

// Small integers: exact in every dtype (bf16 holds integers up to 256 exactly), so sums are exact too.
Tensor make(DType dtype, const std::vector<float>& values) {
  const Shape shape{static_cast<int64_t>(values.size())};
  if (dtype != DType::kI32) return Tensor::from_vector(values, shape).to_dtype(dtype);
  return Tensor::from_vector(std::vector<int32_t>(values.begin(), values.end()), shape);
}

std::vector<double> values(const Tensor& t) {
  if (t.dtype() == DType::kI32) {
    const int32_t* p = t.data_as<int32_t>();
    return std::vector<double>(p, p + t.numel());
  }
  const std::vector<float> f = t.to_f32_vector();
  return std::vector<double>(f.begin(), f.end());
}

// What rank r contributes at element i.
float contribution(int r, int64_t i) { return static_cast<float>((r + 1) * (i % 7 + 1)); }

std::vector<float> contributions(int r, int64_t n, int64_t first = 0) {
  std::vector<float> v;
  for (int64_t i = first; i < first + n; ++i) v.push_back(contribution(r, i));
  return v;
}

// The world ranks in the same group as this rank: TP groups are runs of tp adjacent ranks, DP groups stride tp.
std::vector<int> members(const ProcessGrid& g, const Communicator& c) {
  std::vector<int> m;
  for (int i = 0; i < c.size(); ++i)
    m.push_back(&c == g.tp.get() ? g.dp_rank * g.tp_size + i : &c == g.dp.get() ? i * g.tp_size + g.tp_rank : i);
  return m;
}

class Collectives : public ::testing::Test {
 protected:
  void SetUp() override {
    int world = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    grid_ = make_process_grid(world % 2 == 0 ? 2 : 1, Device::kCPU);
  }
  std::vector<Communicator*> groups() { return {grid_.world.get(), grid_.tp.get(), grid_.dp.get()}; }
  ProcessGrid grid_;
};

TEST_F(Collectives, AllReduceSumAndMaxEveryDType) {
  for (Communicator* c : groups())
    for (DType dtype : kDTypes)
      for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax}) {
        const int64_t n = 37;
        Tensor t = make(dtype, contributions(grid_.world_rank, n));
        c->all_reduce(t, op);
        const std::vector<double> got = values(t);
        for (int64_t i = 0; i < n; ++i) {
          double want = op == ReduceOp::kSum ? 0 : -1e30;
          for (int r : members(grid_, *c))
            want = op == ReduceOp::kSum ? want + contribution(r, i) : std::max<double>(want, contribution(r, i));
          ASSERT_EQ(got[i], want) << c->name() << " " << dtype_name(dtype) << " element " << i;
        }
      }
}

// x rounded to bf16 (8 significant bits), to nearest with ties to even, computed in double independently of the
// library: the multiple of x's spacing nearest to x (nearbyint rounds ties to even).
double round_to_bf16(double x) {
  if (x == 0) return 0;
  const double spacing = std::ldexp(1.0, std::ilogb(x) - 7);
  return std::nearbyint(x / spacing) * spacing;
}

// A bf16 sum is the f32 sum rounded to bf16, exactly. Each element has two nonzero addends, from group ranks 0 and
// 1 (the others add zeros, exactly), so the result is bf16(a + b) whatever order the reduction takes; a + b is
// exact in f32 (bf16 addends within 2^16 of each other). The addends make every kind of rounding: exact, down, up,
// ties to even down and up (truncation, or rounding ties away, gets some of them wrong), and random ones.
TEST_F(Collectives, Bf16SumRoundsLikeF32ThenBf16) {
  std::vector<std::pair<double, double>> addends = {
      {1.0, 0x1p-7},                  // exact
      {1.0, 0x1p-9},                  // below half a spacing: down
      {1.0, 0x1.8p-8},                // above: up
      {1.0, 0x1p-8},                  // a tie: to the even 1.0
      {1.0 + 0x1p-7, 0x1p-8},         // a tie: to the even 1 + 2^-6
      {-(1.0 + 0x1p-7), -0x1p-8},     // the same, negative
      {1.5, 0.75},                    // into the next binade
      {3.0, -2.0 - 0x1p-6}};          // cancellation
  Rng rng(7);
  while (addends.size() < 64)
    addends.emplace_back(round_to_bf16(rng.normal() * 4), round_to_bf16(rng.normal() * 4));
  int64_t inexact = 0;
  for (const auto& [a, b] : addends) inexact += round_to_bf16(a + b) != a + b;
  ASSERT_GE(inexact, 5);
  for (Communicator* c : groups()) {
    if (c->size() < 2) continue;
    std::vector<float> mine;
    for (const auto& [a, b] : addends) mine.push_back(static_cast<float>(c->rank() == 0 ? a : c->rank() == 1 ? b : 0));
    Tensor t = make(DType::kBF16, mine);
    ASSERT_EQ(t.to_f32_vector(), mine) << "the addends are not bf16 values";
    c->all_reduce(t, ReduceOp::kSum);
    const std::vector<float> got = t.to_f32_vector();
    for (size_t i = 0; i < addends.size(); ++i)
      EXPECT_EQ(got[i], round_to_bf16(addends[i].first + addends[i].second))
          << c->name() << ": " << addends[i].first << " + " << addends[i].second;
  }
}

TEST_F(Collectives, ReduceScatterInAndOutOfPlace) {
  for (Communicator* c : groups())
    for (DType dtype : kDTypes)
      for (bool in_place : {false, true}) {
        const int64_t n = 5, p = c->size();
        Tensor in = make(dtype, contributions(grid_.world_rank, n * p));
        Tensor out = in_place ? in.rows(c->rank() * n, (c->rank() + 1) * n) : Tensor::empty({n}, dtype);
        c->reduce_scatter(out, in, ReduceOp::kSum);
        const std::vector<double> got = values(out);
        for (int64_t i = 0; i < n; ++i) {
          double want = 0;
          for (int r : members(grid_, *c)) want += contribution(r, c->rank() * n + i);
          ASSERT_EQ(got[i], want) << c->name() << " " << dtype_name(dtype) << (in_place ? " in place" : "") << " " << i;
        }
      }
}

TEST_F(Collectives, AllGatherInAndOutOfPlace) {
  for (Communicator* c : groups())
    for (DType dtype : kDTypes)
      for (bool in_place : {false, true}) {
        const int64_t n = 3, p = c->size();
        Tensor out = make(dtype, std::vector<float>(static_cast<size_t>(n * p), -1.0f));
        Tensor in = in_place ? out.rows(c->rank() * n, (c->rank() + 1) * n) : Tensor::empty({n}, dtype);
        in.copy_from(make(dtype, contributions(grid_.world_rank, n)));
        c->all_gather(out, in);
        const std::vector<double> got = values(out);
        const std::vector<int> m = members(grid_, *c);
        for (int64_t j = 0; j < n * p; ++j)
          ASSERT_EQ(got[j], contribution(m[j / n], j % n)) << c->name() << " " << dtype_name(dtype) << " " << j;
      }
}

TEST_F(Collectives, BroadcastFromEveryRoot) {
  for (Communicator* c : groups())
    for (DType dtype : kDTypes)
      for (int root = 0; root < c->size(); ++root) {
        Tensor t = make(dtype, contributions(grid_.world_rank, 11));
        c->broadcast(t, root);
        const std::vector<double> got = values(t);
        for (int64_t i = 0; i < 11; ++i)
          ASSERT_EQ(got[i], contribution(members(grid_, *c)[root], i)) << c->name() << " root " << root;
      }
}

TEST_F(Collectives, BarrierAndScalarSums) {
  for (Communicator* c : groups()) {
    c->barrier();
    int64_t want = 0;
    for (int r : members(grid_, *c)) want += r + 1;
    EXPECT_EQ(sum_over_ranks(*c, static_cast<int64_t>(grid_.world_rank + 1)), want) << c->name();
    EXPECT_DOUBLE_EQ(sum_over_ranks(*c, 0.5 * (grid_.world_rank + 1)), 0.5 * static_cast<double>(want)) << c->name();
  }
}

TEST_F(Collectives, TrafficCountsRingBytes) {
  Communicator& w = *grid_.world;
  const double p = w.size();
  w.reset_traffic();
  Tensor t = Tensor::zeros({1000}, DType::kF32), shard = Tensor::zeros({250}, DType::kF32);
  Tensor full = Tensor::zeros({static_cast<int64_t>(250 * p)}, DType::kF32);
  w.all_reduce(t, ReduceOp::kSum);
  w.all_reduce(t, ReduceOp::kMax);
  w.reduce_scatter(shard, full, ReduceOp::kSum);
  w.all_gather(full, shard);
  w.broadcast(t, 0);
  w.barrier();
  const CommTraffic& tr = w.traffic();
  EXPECT_EQ(tr[Collective::kAllReduce].calls, 2);
  EXPECT_EQ(tr[Collective::kAllReduce].payload_bytes, 8000);
  EXPECT_DOUBLE_EQ(tr[Collective::kAllReduce].ring_bytes_sent, 2 * 2 * (p - 1) / p * 4000);
  EXPECT_DOUBLE_EQ(tr[Collective::kReduceScatter].ring_bytes_sent, (p - 1) / p * 1000 * p);
  EXPECT_DOUBLE_EQ(tr[Collective::kAllGather].ring_bytes_sent, (p - 1) / p * 1000 * p);
  EXPECT_DOUBLE_EQ(tr[Collective::kBroadcast].ring_bytes_sent, (p - 1) / p * 4000);
  EXPECT_EQ(tr[Collective::kBarrier].calls, 1);
  EXPECT_EQ(tr.total().calls, 6);
}

TEST_F(Collectives, MismatchedShardIsAnErrorNamingTheCollective) {
  Tensor in = Tensor::zeros({7}, DType::kF32), out = Tensor::zeros({3}, DType::kF32);
  try {
    grid_.world->reduce_scatter(out, in, ReduceOp::kSum);
    FAIL() << "expected an error";
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("reduce_scatter over world"), std::string::npos) << e.what();
  }
}

TEST(Grid, TensorParallelRanksAreAdjacent) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  for (int tp = 1; tp <= world; ++tp) {
    if (world % tp != 0) continue;
    const ProcessGrid g = make_process_grid(tp, Device::kCPU);
    EXPECT_EQ(g.tp_size, tp);
    EXPECT_EQ(g.dp_size, world / tp);
    EXPECT_EQ(g.world_rank, g.dp_rank * tp + g.tp_rank);
    EXPECT_EQ(g.tp->rank(), g.tp_rank);
    EXPECT_EQ(g.dp->rank(), g.dp_rank);
    EXPECT_EQ(g.tp->size(), tp);
    EXPECT_EQ(g.dp->size(), world / tp);
    // The TP group sums to the world ranks dp*tp .. dp*tp + tp - 1.
    const int64_t sum = sum_over_ranks(*g.tp, static_cast<int64_t>(g.world_rank));
    EXPECT_EQ(sum, static_cast<int64_t>(g.dp_rank) * tp * tp + tp * (tp - 1) / 2);
  }
}

TEST(Grid, LayoutsThatDoNotMultiplyNameWorldTpAndDp) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  try {
    make_process_grid(3, Device::kCPU);
    FAIL() << "tp 3 on " << world << " ranks";
  } catch (const StatusError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("world size " + std::to_string(world)), std::string::npos) << m;
    EXPECT_NE(m.find("tp 3"), std::string::npos) << m;
  }
  try {
    make_process_grid(2, Device::kCPU, 3);
    FAIL() << "tp 2 x dp 3 on " << world << " ranks";
  } catch (const StatusError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("world size " + std::to_string(world) + " != tp 2 x dp 3"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace stepwise::testing
