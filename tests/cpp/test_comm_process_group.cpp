// ProcessGroup end to end with ranks as threads: every algorithm over the real shared-memory transport,
// every op, in place and out of place, sub-groups, concurrency, and the failure paths (timeouts that name the
// missing rank, ranks that leave, ranks that disagree).
#include <gtest/gtest.h>

#include <cmath>

#include "tests/cpp/comm_group_harness.hpp"

namespace iccrt::test {
namespace {

using comm::Algorithm;
using comm::CollectiveOptions;
using comm::ReduceOp;

double reduce_ref(DType dt, ReduceOp op, int n, size_t i) {
  double acc = 0;
  for (int r = 0; r < n; ++r) {
    // The reference starts from the inputs as stored in the dtype.
    uint8_t tmp[8];
    store_value(dt, tmp, 0, input_value(dt, r, i));
    const double v = load_value(dt, tmp, 0);
    if (r == 0) {
      acc = v;
      continue;
    }
    switch (op) {
      case ReduceOp::Sum:
      case ReduceOp::Avg:
        acc += v;
        break;
      case ReduceOp::Prod:
        acc *= v;
        break;
      case ReduceOp::Min:
        acc = std::min(acc, v);
        break;
      case ReduceOp::Max:
        acc = std::max(acc, v);
        break;
    }
  }
  return op == ReduceOp::Avg ? acc / n : acc;
}

bool is_int(DType dt) { return dt == DType::Int32 || dt == DType::Int64; }

void expect_close(DType dt, double got, double ref, int n, const std::string& what) {
  if (is_int(dt)) {
    ASSERT_EQ(got, ref) << what;
  } else {
    ASSERT_LE(std::abs(got - ref), tolerance(dt, n) * std::max(1.0, std::abs(ref))) << what << " ref " << ref;
  }
}

void check_all_reduce(ProcessGroup& pg, Algorithm algo, DType dt, ReduceOp op, size_t count, bool in_place) {
  const int n = pg.size(), r = pg.rank();
  const size_t isz = static_cast<size_t>(itemsize(dt));
  std::vector<uint8_t> in(count * isz + 1), out(count * isz + 1, 0xAB);
  for (size_t i = 0; i < count; ++i) store_value(dt, in.data(), i, input_value(dt, r, i));
  void* dst = in_place ? in.data() : out.data();
  pg.all_reduce(in.data(), dst, count, dt, op, CollectiveOptions{algo})->wait();
  const std::string what = detail::str("all_reduce ", comm::to_string(algo), " ", dtype_name(dt), " ",
                                       comm::to_string(op), " n=", n, " count=", count, in_place ? " in-place" : "");
  for (size_t i = 0; i < count; ++i) {
    expect_close(dt, load_value(dt, dst, i), reduce_ref(dt, op, n, i), n, what + " at " + std::to_string(i));
  }
  if (!in_place) {
    for (size_t i = 0; i < count; ++i) {
      ASSERT_EQ(load_value(dt, in.data(), i), load_value(dt, in.data(), i)) << "input changed";
    }
  }
  ASSERT_EQ(static_cast<uint8_t*>(dst)[count * isz], in_place ? in[count * isz] : 0xAB)
      << what << ": wrote past the end";
}

class AllReduce : public ::testing::TestWithParam<std::tuple<int, Algorithm>> {};

TEST_P(AllReduce, EveryOpDtypeAndSize) {
  const auto [n, algo] = GetParam();
  run_group(n, [algo = algo](ProcessGroup& pg) {
    const std::vector<size_t> counts = {0, 1, 7, 1009, 3 * 1024 + 5};
    for (DType dt : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int32, DType::Int64}) {
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Min, ReduceOp::Max, ReduceOp::Avg}) {
        if (op == ReduceOp::Avg && is_int(dt)) continue;
        for (size_t c : counts) check_all_reduce(pg, algo, dt, op, c, c % 2 == 1);
      }
    }
    // Large enough to cross chunk and slot boundaries many times.
    check_all_reduce(pg, algo, DType::Float32, ReduceOp::Sum, (1 << 20) + 3, false);
    check_all_reduce(pg, algo, DType::BFloat16, ReduceOp::Max, (1 << 19) + 1, true);
  });
}

INSTANTIATE_TEST_SUITE_P(CommGroup, AllReduce,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4, 5),
                                            ::testing::Values(Algorithm::Auto, Algorithm::Ring, Algorithm::Tree,
                                                              Algorithm::Rhd, Algorithm::Rd, Algorithm::Direct)),
                         [](const auto& info) {
                           return std::to_string(std::get<0>(info.param)) + "ranks_" +
                                  comm::to_string(std::get<1>(info.param));
                         });

// Hierarchical: ranks of one machine pretend to sit on several hosts.
TEST(CommGroup, HierarchicalOnFakeHosts) {
  for (auto hosts :
       std::vector<std::vector<std::string>>{{"a", "a", "b", "b"}, {"a", "b", "a", "b", "c", "c"}, {"a", "b", "c"}}) {
    const int n = static_cast<int>(hosts.size());
    run_group(
        n,
        [&](ProcessGroup& pg) {
          if (hosts.size() == 3) {
            // One rank per host: auto takes a point-to-point algorithm, hierarchical still works.
            EXPECT_NE(pg.tuned_all_reduce_algorithm(1 << 20), Algorithm::Direct);
          } else {
            EXPECT_EQ(pg.tuned_all_reduce_algorithm(1 << 20), Algorithm::Hierarchical);
          }
          for (size_t c : {size_t(0), size_t(1), size_t(7), size_t(1009), size_t(300001)}) {
            check_all_reduce(pg, Algorithm::Hierarchical, DType::Float32, ReduceOp::Sum, c, false);
            check_all_reduce(pg, Algorithm::Hierarchical, DType::Int64, ReduceOp::Max, c, true);
          }
          check_all_reduce(pg, Algorithm::Auto, DType::BFloat16, ReduceOp::Avg, 4097, false);
          // Direct needs one host.
          EXPECT_THROW(pg.all_reduce(nullptr, nullptr, 0, DType::Float32, ReduceOp::Sum, {Algorithm::Direct}),
                       ValueError);
        },
        {}, hosts);
  }
}

void fill(DType dt, std::vector<uint8_t>& buf, int r, size_t base) {
  const size_t n = buf.size() / static_cast<size_t>(itemsize(dt));
  for (size_t i = 0; i < n; ++i) store_value(dt, buf.data(), i, input_value(dt, r, base + i));
}

class OtherOps : public ::testing::TestWithParam<std::tuple<int, Algorithm>> {};

TEST_P(OtherOps, ScatterGatherBroadcastReduceAllToAll) {
  const auto [n, algo] = GetParam();
  run_group(n, [algo = algo](ProcessGroup& pg) {
    const int n = pg.size(), r = pg.rank();
    const Algorithm bcast_algo = algo == Algorithm::Ring ? Algorithm::Tree : algo;
    for (DType dt : {DType::Float32, DType::BFloat16, DType::Int64}) {
      const size_t isz = static_cast<size_t>(itemsize(dt));
      for (size_t c : {size_t(0), size_t(1), size_t(7), size_t(1009), size_t(70001)}) {
        const std::string what = detail::str(dtype_name(dt), " n=", n, " count=", c, " ", comm::to_string(algo));
        // reduce_scatter: rank r gets block r of the sum of every rank's n blocks.
        std::vector<uint8_t> in(n * c * isz), out(c * isz);
        fill(dt, in, r, 0);
        pg.reduce_scatter(in.data(), out.data(), c, dt, ReduceOp::Sum, {algo})->wait();
        for (size_t i = 0; i < c; ++i)
          expect_close(dt, load_value(dt, out.data(), i), reduce_ref(dt, ReduceOp::Sum, n, r * c + i), n,
                       "reduce_scatter " + what);
        // all_gather: block j is rank j's input.
        std::vector<uint8_t> mine(c * isz), all(n * c * isz);
        fill(dt, mine, r, 0);
        pg.all_gather(mine.data(), all.data(), c, dt, {algo})->wait();
        for (int j = 0; j < n; ++j) {
          for (size_t i = 0; i < c; ++i) {
            uint8_t tmp[8];
            store_value(dt, tmp, 0, input_value(dt, j, i));
            ASSERT_EQ(load_value(dt, all.data(), j * c + i), load_value(dt, tmp, 0)) << "all_gather " << what;
          }
        }
        // broadcast and reduce from every root.
        for (int root = 0; root < n; ++root) {
          std::vector<uint8_t> b(c * isz);
          fill(dt, b, r, 0);
          pg.broadcast(b.data(), c, dt, root, {bcast_algo})->wait();
          for (size_t i = 0; i < c; ++i) {
            uint8_t tmp[8];
            store_value(dt, tmp, 0, input_value(dt, root, i));
            ASSERT_EQ(load_value(dt, b.data(), i), load_value(dt, tmp, 0)) << "broadcast root " << root << " " << what;
          }
          std::vector<uint8_t> rin(c * isz), rout(c * isz);
          fill(dt, rin, r, 0);
          const std::vector<uint8_t> before = rin;
          pg.reduce(rin.data(), r == root ? rout.data() : nullptr, c, dt, ReduceOp::Max, root, {bcast_algo})->wait();
          ASSERT_EQ(rin, before) << "reduce changed its input";
          if (r == root) {
            for (size_t i = 0; i < c; ++i)
              expect_close(dt, load_value(dt, rout.data(), i), reduce_ref(dt, ReduceOp::Max, n, i), n,
                           "reduce " + what);
          }
        }
        // all_to_all: block j of rank r's input lands in block r of rank j's output.
        std::vector<uint8_t> a(n * c * isz), b(n * c * isz);
        for (int j = 0; j < n; ++j) {
          for (size_t i = 0; i < c; ++i) store_value(dt, a.data(), j * c + i, input_value(dt, r * 31 + j, i));
        }
        pg.all_to_all(a.data(), b.data(), c, dt)->wait();
        for (int j = 0; j < n; ++j) {
          for (size_t i = 0; i < c; ++i) {
            uint8_t tmp[8];
            store_value(dt, tmp, 0, input_value(dt, j * 31 + r, i));
            ASSERT_EQ(load_value(dt, b.data(), j * c + i), load_value(dt, tmp, 0)) << "all_to_all " << what;
          }
        }
      }
    }
    pg.barrier()->wait();
  });
}

INSTANTIATE_TEST_SUITE_P(CommGroup, OtherOps,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4, 5),
                                            ::testing::Values(Algorithm::Auto, Algorithm::Ring, Algorithm::Direct)),
                         [](const auto& info) {
                           return std::to_string(std::get<0>(info.param)) + "ranks_" +
                                  comm::to_string(std::get<1>(info.param));
                         });

TEST(CommGroup, InPlaceReduceScatterAndAllGather) {
  run_group(3, [](ProcessGroup& pg) {
    const int n = pg.size(), r = pg.rank();
    const size_t c = 1001;
    std::vector<float> buf(n * c);
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<float>(input_value(DType::Float32, r, i));
    for (Algorithm a : {Algorithm::Ring, Algorithm::Direct}) {
      std::vector<float> x = buf;
      pg.reduce_scatter(x.data(), x.data() + r * c, c, DType::Float32, ReduceOp::Sum, {a})->wait();
      for (size_t i = 0; i < c; ++i) {
        ASSERT_NEAR(x[r * c + i], reduce_ref(DType::Float32, ReduceOp::Sum, n, r * c + i), 1e-5);
      }
      std::vector<float> y(n * c, -1.f);
      for (size_t i = 0; i < c; ++i) y[r * c + i] = static_cast<float>(r * 1000 + i);
      pg.all_gather(y.data() + r * c, y.data(), c, DType::Float32, {a})->wait();
      for (int j = 0; j < n; ++j) {
        for (size_t i = 0; i < c; ++i) ASSERT_EQ(y[j * c + i], static_cast<float>(j * 1000 + i));
      }
    }
  });
}

TEST(CommGroup, SendRecvRingOfMessages) {
  run_group(4, [](ProcessGroup& pg) {
    const int n = pg.size(), r = pg.rank();
    std::vector<int64_t> out(777), in(777);
    for (size_t i = 0; i < out.size(); ++i) out[i] = r * 100000 + static_cast<int64_t>(i);
    // Even ranks send first, odd ranks receive first: no cycle of blocking sends.
    auto s = pg.send(out.data(), out.size(), DType::Int64, (r + 1) % n, 5);
    auto q = pg.recv(in.data(), in.size(), DType::Int64, (r + n - 1) % n, 5);
    s->wait();
    q->wait();
    for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ(in[i], ((r + n - 1) % n) * 100000 + static_cast<int64_t>(i));
    EXPECT_THROW(pg.send(out.data(), 1, DType::Int64, r), ValueError);
    EXPECT_THROW(pg.recv(in.data(), 1, DType::Int64, n), ValueError);
  });
}

TEST(CommGroup, AsyncWorkQueuesInOrder) {
  run_group(3, [](ProcessGroup& pg) {
    std::vector<std::vector<float>> bufs(8, std::vector<float>(50000, 1.f));
    std::vector<comm::WorkPtr> works;
    for (auto& b : bufs) works.push_back(pg.all_reduce(b.data(), b.data(), b.size(), DType::Float32, ReduceOp::Sum));
    for (auto& w : works) w->wait();
    for (auto& w : works) EXPECT_TRUE(w->is_completed());
    for (auto& b : bufs) ASSERT_EQ(b[12345], 3.f);
  });
}

TEST(CommGroup, SplitNewGroupAndConcurrentGroups) {
  run_group(5, [](ProcessGroup& pg) {
    const int r = pg.rank();
    // Evens and odds, ordered by descending key.
    auto sub = pg.split(r % 2, -r);
    ASSERT_TRUE(sub);
    EXPECT_EQ(sub->size(), r % 2 ? 2 : 3);
    EXPECT_EQ(sub->world_ranks()[sub->rank()], r);
    EXPECT_EQ(sub->world_ranks().front(), r % 2 ? 3 : 4);  // highest rank first (key = -rank)
    // new_group with a rank list; non-members get nullptr.
    auto g = pg.new_group({4, 1, 2});
    EXPECT_EQ(static_cast<bool>(g), r == 4 || r == 1 || r == 2);
    if (g) EXPECT_EQ(g->world_ranks(), (std::vector<int>{4, 1, 2}));
    auto none = pg.split(r == 0 ? 7 : -1, 0);
    EXPECT_EQ(static_cast<bool>(none), r == 0);
    // Ops on the sub-group and on the parent in flight at the same time.
    std::vector<double> a(200000, 1.0 + r), b(100000, 2.0 * r);
    auto w1 = sub->all_reduce(a.data(), a.data(), a.size(), DType::Float64, ReduceOp::Sum);
    auto w2 = pg.all_reduce(b.data(), b.data(), b.size(), DType::Float64, ReduceOp::Sum);
    w2->wait();
    w1->wait();
    double expect_a = 0;
    for (int w : sub->world_ranks()) expect_a += 1.0 + w;
    EXPECT_EQ(a[199999], expect_a);
    EXPECT_EQ(b[0], 2.0 * (0 + 1 + 2 + 3 + 4));
    if (g) {
      std::vector<int32_t> x(10, g->rank() + 1);
      g->all_reduce(x.data(), x.data(), x.size(), DType::Int32, ReduceOp::Prod)->wait();
      EXPECT_EQ(x[9], 6);
    }
  });
}

TEST(CommGroup, TensorApiContiguousAndStrided) {
  run_group(3, [](ProcessGroup& pg) {
    const int n = pg.size(), r = pg.rank();
    Tensor t = full({4, 6}, Scalar(static_cast<double>(r + 1)), {DType::Float32});
    Tensor view = t.transpose(0, 1);  // non-contiguous
    pg.all_reduce(view, ReduceOp::Sum)->wait();
    for (int k = 0; k < 24; ++k) ASSERT_EQ(t.data<float>()[k], 6.f);
    Tensor out = empty({3 * 4}, {DType::Float32});
    Tensor in = full({4}, Scalar(static_cast<double>(r)), {DType::Float32});
    pg.all_gather(out, in)->wait();
    for (int j = 0; j < n; ++j) EXPECT_EQ(out.data<float>()[4 * j + 3], static_cast<float>(j));
    Tensor bad = empty({5}, {DType::Float32});
    EXPECT_THROW(pg.all_gather(bad, in), ShapeError);
    Tensor wrong_dtype = empty({12}, {DType::Float64});
    EXPECT_THROW(pg.all_gather(wrong_dtype, in), DTypeError);
    Tensor ints = full({3}, Scalar(int64_t(2)), {DType::Int64});
    EXPECT_THROW(pg.all_reduce(ints, ReduceOp::Avg), DTypeError);
    Tensor flags = full({3}, Scalar(true), {DType::Bool});
    EXPECT_THROW(pg.all_reduce(flags, ReduceOp::Sum), DTypeError);
    EXPECT_THROW(pg.broadcast(ints, 3), ValueError);
  });
}

}  // namespace
}  // namespace iccrt::test
