// Collectives for real under mpirun: the world group from the MPI launch, every algorithm over shared memory and
// over MPI point-to-point (transport "mpi"), hierarchical with ranks pretending to sit on two hosts, sub-groups.
// Run by CTest as `mpirun --oversubscribe -np N iccrt_mpi_tests` for N = 2, 3, 4.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstdlib>

#include "tests/cpp/comm_group_harness.hpp"

namespace iccrt::test {
namespace {

using comm::Algorithm;
using comm::ReduceOp;

std::shared_ptr<ProcessGroup> world(const std::string& transport, const std::string& host = "") {
  ProcessGroupOptions o;
  o.timeout = std::chrono::seconds(60);
  o.transport = transport;
  o.host_id = host;
  o.name = "world-" + transport + (host.empty() ? "" : "-hosts");
  return ProcessGroup::from_environment(o);
}

double ref(DType dt, ReduceOp op, int n, size_t i) {
  double acc = 0;
  for (int r = 0; r < n; ++r) {
    uint8_t tmp[8];
    store_value(dt, tmp, 0, input_value(dt, r, i));
    const double v = load_value(dt, tmp, 0);
    if (r == 0)
      acc = v;
    else if (op == ReduceOp::Sum || op == ReduceOp::Avg)
      acc += v;
    else if (op == ReduceOp::Prod)
      acc *= v;
    else if (op == ReduceOp::Max)
      acc = std::max(acc, v);
    else
      acc = std::min(acc, v);
  }
  return op == ReduceOp::Avg ? acc / n : acc;
}

void check(ProcessGroup& pg, Algorithm a, DType dt, ReduceOp op, size_t count) {
  const size_t isz = static_cast<size_t>(itemsize(dt));
  std::vector<uint8_t> in(count * isz), out(count * isz);
  for (size_t i = 0; i < count; ++i) store_value(dt, in.data(), i, input_value(dt, pg.rank(), i));
  pg.all_reduce(in.data(), out.data(), count, dt, op, {a})->wait();
  for (size_t i = 0; i < count; ++i) {
    const double got = load_value(dt, out.data(), i), want = ref(dt, op, pg.size(), i);
    ASSERT_LE(std::abs(got - want), tolerance(dt, pg.size()) * std::max(1.0, std::abs(want)))
        << comm::to_string(a) << " " << dtype_name(dt) << " " << comm::to_string(op) << " count " << count << " at "
        << i;
  }
}

TEST(Mpi, WorldMatchesTheLaunch) {
  auto pg = world("auto");
  int r = 0, n = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  EXPECT_EQ(pg->rank(), r);
  EXPECT_EQ(pg->size(), n);
}

TEST(Mpi, AllReduceEveryAlgorithmOverShmAndMpi) {
  for (const char* transport : {"auto", "mpi"}) {
    auto pg = world(transport);
    std::vector<Algorithm> algos = {Algorithm::Auto, Algorithm::Ring, Algorithm::Tree, Algorithm::Rhd, Algorithm::Rd};
    if (std::string(transport) == "auto") algos.push_back(Algorithm::Direct);
    for (Algorithm a : algos) {
      for (size_t c : {size_t(0), size_t(1), size_t(7), size_t(1009), size_t(300001)}) {
        check(*pg, a, DType::Float32, ReduceOp::Sum, c);
        check(*pg, a, DType::BFloat16, ReduceOp::Max, c);
        check(*pg, a, DType::Int64, ReduceOp::Prod, c);
        check(*pg, a, DType::Float64, ReduceOp::Avg, c);
      }
    }
  }
}

TEST(Mpi, HierarchicalAcrossPretendHostsOverMpi) {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  if (n % 2) GTEST_SKIP() << "needs an even rank count (two ranks per pretend host)";
  auto pg = world("mpi", "host" + std::to_string(r / 2));
  EXPECT_EQ(pg->tuned_all_reduce_algorithm(64 << 20), n > 2 ? Algorithm::Hierarchical : Algorithm::Direct);
  for (size_t c : {size_t(1), size_t(1009), size_t(300001)}) {
    check(*pg, Algorithm::Hierarchical, DType::Float32, ReduceOp::Sum, c);
    check(*pg, Algorithm::Auto, DType::Int32, ReduceOp::Min, c);
  }
}

TEST(Mpi, OtherOpsAndSubGroupsOverMpi) {
  auto pg = world("mpi");
  const int n = pg->size(), r = pg->rank();
  const size_t c = 1009;
  std::vector<float> all(n * c), mine(c, static_cast<float>(r + 1));
  pg->all_gather(mine.data(), all.data(), c, DType::Float32)->wait();
  for (int j = 0; j < n; ++j) ASSERT_EQ(all[j * c + 5], static_cast<float>(j + 1));
  std::vector<float> rs(c);
  pg->reduce_scatter(all.data(), rs.data(), c, DType::Float32, ReduceOp::Sum)->wait();
  ASSERT_EQ(rs[7], static_cast<float>(n * (r + 1)));
  std::vector<int64_t> b(c, r);
  pg->broadcast(b.data(), c, DType::Int64, n - 1)->wait();
  ASSERT_EQ(b[c - 1], n - 1);
  std::vector<int32_t> a2a(n * 3), got(n * 3);
  for (int j = 0; j < n; ++j) a2a[j * 3] = a2a[j * 3 + 1] = a2a[j * 3 + 2] = r * 10 + j;
  pg->all_to_all(a2a.data(), got.data(), 3, DType::Int32)->wait();
  for (int j = 0; j < n; ++j) ASSERT_EQ(got[j * 3 + 1], j * 10 + r);
  auto sub = pg->split(r % 2, r);
  std::vector<double> x(100, 1.0);
  sub->all_reduce(x.data(), x.data(), x.size(), DType::Float64, ReduceOp::Sum)->wait();
  EXPECT_EQ(x[0], static_cast<double>(sub->size()));
  pg->barrier()->wait();
}

// Run only by the mpi_rank_exit CTest entry: rank 1 exits in the middle; the others must not hang.
TEST(Mpi, RankExit) {
  if (!std::getenv("ICCRT_TEST_RANK_EXIT")) GTEST_SKIP() << "set ICCRT_TEST_RANK_EXIT=1 (the mpi_rank_exit test does)";
  auto pg = world("auto");
  std::vector<float> x(1000, 1.f);
  pg->all_reduce(x.data(), x.data(), x.size(), DType::Float32, ReduceOp::Sum)->wait();
  if (pg->rank() == 1) std::_Exit(3);
  pg->all_reduce(x.data(), x.data(), x.size(), DType::Float32, ReduceOp::Sum)->wait();
  ADD_FAILURE() << "the all_reduce without rank 1 returned";
}

}  // namespace
}  // namespace iccrt::test

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  // A failing rank must fail the job: mpirun's exit status is the worst rank's.
  int worst = 0;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
}
