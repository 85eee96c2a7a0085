// The collective algorithms (src/comm/algorithms) with ranks as threads over the in-process test transport
// (comm_test_transport.hpp): every algorithm x op x dtype on 1..5 ranks with sizes 0, 1, 7, 64 and 1009 (a prime,
// so never divisible by the rank count) and small chunks (many messages per step), plus ~1-2 MiB buffers for a
// few combinations. Integers are compared exactly (they wrap, and the reference wraps too); floats against a
// float64 reference with a bound of one rounding per reduction step; all-reduce results must also be bit-identical
// on every rank. Ranks that disagree (count, tag) must raise CommError, never hang.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "comm_test_transport.hpp"
#include "src/comm/algorithms/algorithms.hpp"

namespace iccrt::comm {
namespace {

using test::HostBuf;
using test::run_ranks;
using test::SendMode;
using test::test_wait;
using AllReduceFn = void (*)(algo::Context&, void*, size_t, DType, ReduceOp);

struct NamedAllReduce {
  const char* name;
  AllReduceFn fn;
};
const NamedAllReduce kAllReduce[] = {{"ring", algo::allreduce_ring},
                                     {"tree", algo::allreduce_tree},
                                     {"rhd", algo::allreduce_rhd},
                                     {"rd", algo::allreduce_rd}};

const std::vector<DType> kDtypes = {DType::Float32,  DType::Float64, DType::Float16,
                                    DType::BFloat16, DType::Int32,   DType::Int64};
const std::vector<ReduceOp> kOps = {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Min, ReduceOp::Max};
const std::vector<size_t> kCounts = {0, 1, 7, 64, 1009};
constexpr size_t kSmallChunk = 100;  // bytes: not a multiple of 8, so chunk sizes round down to whole elements
// For the suites that loop over every root or run two calls per case: still several chunks at count 1009.
constexpr size_t kMidChunk = 1004;
// Rendezvous sends (a send completes only when received; see comm_test_transport.hpp) are the strictest mode
// but cost a thread hand-off per message, so the suites parameterised by dtype use them for half of the dtypes
// (every algorithm x op x rank count still runs both ways) and the rest use eager sends.
SendMode mode_for(DType t) {
  return t == DType::Float32 || t == DType::Float16 || t == DType::Int32 ? SendMode::Rendezvous : SendMode::Eager;
}
constexpr SendMode kStrict = SendMode::Rendezvous;

// Rank r's input: floats in [-1, 1] (Prod: [0.8, 1.25], so products stay near 1), integers over their whole
// range (Sum and Prod wrap) and odd for Prod (products never collapse to 0). Never all zero.
HostBuf rank_input(DType t, ReduceOp op, size_t n, int rank, uint64_t seed) {
  std::mt19937_64 rng(seed * 1000003 + static_cast<uint64_t>(rank));
  std::uniform_real_distribution<float> sym(-1.0f, 1.0f), near1(0.8f, 1.25f);
  HostBuf b(t, n);
  for (size_t i = 0; i < n; ++i) {
    if (is_floating(t)) {
      b.set(i, op == ReduceOp::Prod ? near1(rng) : sym(rng));
    } else {
      const int64_t v = static_cast<int64_t>(rng());
      b.set_int(i, op == ReduceOp::Prod ? (v | 1) : v);
    }
  }
  return b;
}

// Unit roundoff of each floating dtype.
double unit_roundoff(DType t) {
  switch (t) {
    case DType::Float64:
      return std::ldexp(1.0, -53);
    case DType::Float32:
      return std::ldexp(1.0, -24);
    case DType::Float16:
      return std::ldexp(1.0, -11);
    case DType::BFloat16:
      return std::ldexp(1.0, -8);
    default:
      return 0;
  }
}

// Checks got[i] == op over ranks of inputs[r][off + i]. Floats: Min/Max exactly; Sum within p roundings of the
// sum of magnitudes, Prod within 2p roundings of the product (each reduction step rounds once to the dtype).
// Integers: exactly, wrapping.
void expect_reduced(const HostBuf& got, const std::vector<HostBuf>& inputs, size_t off, ReduceOp op,
                    const std::string& what) {
  const DType t = got.dtype();
  const int p = static_cast<int>(inputs.size());
  int failures = 0;
  for (size_t i = 0; i < got.size() && failures < 5; ++i) {
    if (is_floating(t)) {
      double ref = inputs[0].get(off + i), mag = std::abs(ref);
      for (int r = 1; r < p; ++r) {
        const double x = inputs[static_cast<size_t>(r)].get(off + i);
        mag += std::abs(x);
        switch (op) {
          case ReduceOp::Sum:
          case ReduceOp::Avg:
            ref += x;
            break;
          case ReduceOp::Prod:
            ref *= x;
            break;
          case ReduceOp::Min:
            ref = std::min(ref, x);
            break;
          case ReduceOp::Max:
            ref = std::max(ref, x);
            break;
        }
      }
      const double u = unit_roundoff(t);
      double tol = 0;
      if (op == ReduceOp::Sum || op == ReduceOp::Avg) tol = p * u * mag + (t == DType::Float16 ? p * 6e-8 : 0);
      if (op == ReduceOp::Prod) tol = 2 * p * u * std::abs(ref);
      const double g = got.get(i);
      if (!(std::abs(g - ref) <= tol)) {
        ADD_FAILURE() << what << ": element " << i << " is " << g << ", expected " << ref << " +- " << tol;
        ++failures;
      }
    } else {
      int64_t ref = inputs[0].get_int(off + i);
      for (int r = 1; r < p; ++r) {
        const int64_t x = inputs[static_cast<size_t>(r)].get_int(off + i);
        const uint64_t ur = static_cast<uint64_t>(ref), ux = static_cast<uint64_t>(x);
        switch (op) {
          case ReduceOp::Sum:
            ref = static_cast<int64_t>(ur + ux);
            break;
          case ReduceOp::Prod:
            ref = static_cast<int64_t>(ur * ux);
            break;
          case ReduceOp::Min:
            ref = std::min(ref, x);
            break;
          case ReduceOp::Max:
            ref = std::max(ref, x);
            break;
          case ReduceOp::Avg:
            break;
        }
      }
      HostBuf wrapped(t, 1);  // narrow to the dtype's width, as the kernels wrap
      wrapped.set_int(0, ref);
      if (got.get_int(i) != wrapped.get_int(0)) {
        ADD_FAILURE() << what << ": element " << i << " is " << got.get_int(i) << ", expected " << wrapped.get_int(0);
        ++failures;
      }
    }
  }
}

std::string case_name(int p, size_t count) { return "p=" + std::to_string(p) + " count=" + std::to_string(count); }

// ---- all-reduce: algorithm x op x dtype x ranks, sizes looped inside one run ----

class CommAlgoAllReduce : public ::testing::TestWithParam<std::tuple<int, ReduceOp, DType, int>> {};

TEST_P(CommAlgoAllReduce, MatchesReference) {
  const auto [algo_index, op, t, p] = GetParam();
  const NamedAllReduce& a = kAllReduce[algo_index];
  std::vector<std::vector<HostBuf>> in(kCounts.size()), out(kCounts.size());
  for (size_t ci = 0; ci < kCounts.size(); ++ci) {
    for (int r = 0; r < p; ++r) in[ci].push_back(rank_input(t, op, kCounts[ci], r, ci));
    out[ci].resize(static_cast<size_t>(p));
  }
  run_ranks(
      p,
      [&](Transport& tr, int r) {
        const WaitContext w = test_wait();
        for (size_t ci = 0; ci < kCounts.size(); ++ci) {
          algo::Context c{tr, w, static_cast<uint32_t>(100 + ci), kSmallChunk};
          HostBuf buf = in[ci][static_cast<size_t>(r)];
          a.fn(c, buf.data(), kCounts[ci], t, op);
          out[ci][static_cast<size_t>(r)] = std::move(buf);
        }
      },
      mode_for(t));
  for (size_t ci = 0; ci < kCounts.size(); ++ci) {
    const std::string what = std::string(a.name) + " " + case_name(p, kCounts[ci]);
    expect_reduced(out[ci][0], in[ci], 0, op, what + " rank 0");
    for (int r = 1; r < p; ++r) {
      EXPECT_TRUE(out[ci][static_cast<size_t>(r)] == out[ci][0]) << what << ": rank " << r << " differs from rank 0";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, CommAlgoAllReduce,
                         ::testing::Combine(::testing::Range(0, 4), ::testing::ValuesIn(kOps),
                                            ::testing::ValuesIn(kDtypes), ::testing::Range(1, 6)),
                         [](const auto& info) {
                           return std::string(kAllReduce[std::get<0>(info.param)].name) + "_" +
                                  to_string(std::get<1>(info.param)) + "_" + dtype_name(std::get<2>(info.param)) +
                                  "_p" + std::to_string(std::get<3>(info.param));
                         });

// Avg is folded as Sum by the algorithms (the caller divides): the same bits as a Sum.
TEST(CommAlgoAllReduceExtra, AvgFoldsAsSum) {
  for (const auto& a : kAllReduce) {
    const int p = 3;
    const size_t n = 1009;
    std::vector<HostBuf> in, sum(p), avg(p);
    for (int r = 0; r < p; ++r) in.push_back(rank_input(DType::Float32, ReduceOp::Sum, n, r, 5));
    run_ranks(p, [&](Transport& tr, int r) {
      const WaitContext w = test_wait();
      algo::Context c{tr, w, 1, kSmallChunk};
      sum[r] = in[r];
      avg[r] = in[r];
      a.fn(c, sum[r].data(), n, DType::Float32, ReduceOp::Sum);
      a.fn(c, avg[r].data(), n, DType::Float32, ReduceOp::Avg);
    });
    for (int r = 0; r < p; ++r) EXPECT_TRUE(sum[r] == avg[r]) << a.name << " rank " << r;
  }
}

// Chunks of one element (and chunk_bytes smaller than an element): the most messages per step.
TEST(CommAlgoAllReduceExtra, TinyChunks) {
  for (const auto& a : kAllReduce) {
    for (int p : {3, 4}) {
      for (size_t chunk_bytes : {size_t{1}, size_t{4}}) {
        const size_t n = 257;
        std::vector<HostBuf> in, out(p);
        for (int r = 0; r < p; ++r) in.push_back(rank_input(DType::Float32, ReduceOp::Sum, n, r, 6));
        run_ranks(p, [&](Transport& tr, int r) {
          const WaitContext w = test_wait();
          algo::Context c{tr, w, 2, chunk_bytes};
          out[r] = in[r];
          a.fn(c, out[r].data(), n, DType::Float32, ReduceOp::Sum);
        });
        expect_reduced(out[0], in, 0, ReduceOp::Sum, std::string(a.name) + " tiny chunks " + case_name(p, n));
        for (int r = 1; r < p; ++r) EXPECT_TRUE(out[r] == out[0]) << a.name << " rank " << r;
      }
    }
  }
}

// Rank counts past 5: deeper trees (three levels), halving-doubling with 1..3 extra ranks folded in (6, 7) and
// none (8), a ring with more steps than elements per block.
TEST(CommAlgoAllReduceExtra, MoreRanks) {
  for (const auto& a : kAllReduce) {
    for (int p : {6, 7, 8, 9}) {
      for (const auto& [op, t, n] : {std::tuple{ReduceOp::Sum, DType::Float32, size_t{1009}},
                                     std::tuple{ReduceOp::Max, DType::Int64, size_t{5}}}) {
        std::vector<HostBuf> in, out(p);
        for (int r = 0; r < p; ++r) in.push_back(rank_input(t, op, n, r, 13));
        run_ranks(
            p,
            [&, op = op, t = t, n = n](Transport& tr, int r) {
              const WaitContext w = test_wait();
              algo::Context c{tr, w, 14, kSmallChunk};
              out[r] = in[r];
              a.fn(c, out[r].data(), n, t, op);
            },
            mode_for(t));
        expect_reduced(out[0], in, 0, op, std::string(a.name) + " " + case_name(p, n));
        for (int r = 1; r < p; ++r) EXPECT_TRUE(out[r] == out[0]) << a.name << " " << case_name(p, n) << " rank " << r;
      }
    }
  }
}

// ---- ~1-2 MiB buffers: a few op / dtype combinations, each algorithm, 2..5 ranks ----

struct LargeCase {
  ReduceOp op;
  DType dtype;
  size_t count;
  size_t chunk_bytes;
};
const LargeCase kLarge[] = {
    {ReduceOp::Sum, DType::Float32, 393241, 256 << 10},  // 1.5 MiB, default chunks
    {ReduceOp::Sum, DType::Float32, 393241, 16 << 10},   // same, many chunks per step
    {ReduceOp::Sum, DType::BFloat16, 524309, 64 << 10},  // 1 MiB
    {ReduceOp::Max, DType::Float64, 131101, 256 << 10},  // 1 MiB
    {ReduceOp::Prod, DType::Int32, 262147, 256 << 10},   // 1 MiB
};

class CommAlgoAllReduceLarge : public ::testing::TestWithParam<int> {};

TEST_P(CommAlgoAllReduceLarge, MatchesReference) {
  const LargeCase& lc = kLarge[GetParam()];
  std::vector<HostBuf> in;
  for (int r = 0; r < 5; ++r) in.push_back(rank_input(lc.dtype, lc.op, lc.count, r, 77));
  for (const auto& a : kAllReduce) {
    for (int p = 2; p <= 5; ++p) {
      const std::vector<HostBuf> used(in.begin(), in.begin() + p);
      std::vector<HostBuf> out(p);
      run_ranks(
          p,
          [&](Transport& tr, int r) {
            const WaitContext w = test_wait();
            algo::Context c{tr, w, 3, lc.chunk_bytes};
            out[r] = used[r];
            a.fn(c, out[r].data(), lc.count, lc.dtype, lc.op);
          },
          p % 2 == 1 ? SendMode::Rendezvous : SendMode::Eager);
      const std::string what = std::string(a.name) + " large " + dtype_name(lc.dtype) + " " + case_name(p, lc.count);
      expect_reduced(out[0], used, 0, lc.op, what);
      for (int r = 1; r < p; ++r) EXPECT_TRUE(out[r] == out[0]) << what << ": rank " << r << " differs";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, CommAlgoAllReduceLarge, ::testing::Range(0, static_cast<int>(std::size(kLarge))));

// ---- reduce-scatter: op x dtype x ranks; out of place and in place (out = in + r * count) ----

class CommAlgoReduceScatter : public ::testing::TestWithParam<std::tuple<ReduceOp, DType, int>> {};

TEST_P(CommAlgoReduceScatter, MatchesReference) {
  const auto [op, t, p] = GetParam();
  for (size_t count : kCounts) {
    std::vector<HostBuf> in;
    for (int r = 0; r < p; ++r) in.push_back(rank_input(t, op, count * p, r, count));
    std::vector<HostBuf> out(p), in_after(p), inplace(p);
    run_ranks(
        p,
        [&](Transport& tr, int r) {
          const WaitContext w = test_wait();
          algo::Context c{tr, w, 4, kMidChunk};
          HostBuf src = in[r];
          out[r] = HostBuf(t, count);
          algo::reduce_scatter_ring(c, src.data(), out[r].data(), count, t, op);
          in_after[r] = src;
          inplace[r] = in[r];
          void* mine = static_cast<uint8_t*>(inplace[r].data()) + r * count * itemsize(t);
          algo::reduce_scatter_ring(c, inplace[r].data(), mine, count, t, op);
        },
        mode_for(t));
    for (int r = 0; r < p; ++r) {
      const std::string what = "reduce_scatter " + case_name(p, count) + " rank " + std::to_string(r);
      expect_reduced(out[r], in, r * count, op, what);
      EXPECT_TRUE(in_after[r] == in[r]) << what << ": input modified";
      HostBuf block(t, count);
      if (count > 0) {
        std::memcpy(block.data(), static_cast<const uint8_t*>(inplace[r].data()) + r * count * itemsize(t),
                    block.nbytes());
      }
      EXPECT_TRUE(block == out[r]) << what << ": in-place result differs from out-of-place";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, CommAlgoReduceScatter,
                         ::testing::Combine(::testing::ValuesIn(kOps), ::testing::ValuesIn(kDtypes),
                                            ::testing::Range(1, 6)),
                         [](const auto& info) {
                           return std::string(to_string(std::get<0>(info.param))) + "_" +
                                  dtype_name(std::get<1>(info.param)) + "_p" + std::to_string(std::get<2>(info.param));
                         });

TEST(CommAlgoReduceScatterExtra, Large) {
  const int p = 4;
  const size_t count = 100003;  // 400 KB per block, 1.6 MB per rank
  std::vector<HostBuf> in, out(p);
  for (int r = 0; r < p; ++r) in.push_back(rank_input(DType::Float32, ReduceOp::Sum, count * p, r, 8));
  run_ranks(p, [&](Transport& tr, int r) {
    const WaitContext w = test_wait();
    algo::Context c{tr, w, 5, 64 << 10};
    out[r] = HostBuf(DType::Float32, count);
    algo::reduce_scatter_ring(c, in[r].data(), out[r].data(), count, DType::Float32, ReduceOp::Sum);
  });
  for (int r = 0; r < p; ++r) expect_reduced(out[r], in, r * count, ReduceOp::Sum, "large reduce_scatter");
}

// ---- all-gather: ranks x sizes x element sizes; out of place and in place (in = out + r * count) ----

class CommAlgoAllGather : public ::testing::TestWithParam<int> {};

TEST_P(CommAlgoAllGather, GathersEveryBlock) {
  const int p = GetParam();
  for (DType t : {DType::Float32, DType::Float64, DType::Float16, DType::Int64}) {
    for (size_t count : {size_t{0}, size_t{1}, size_t{7}, size_t{1009}, size_t{150001}}) {
      std::vector<HostBuf> in, out(p), inplace(p);
      for (int r = 0; r < p; ++r) in.push_back(rank_input(t, ReduceOp::Sum, count, r, 9));
      run_ranks(
          p,
          [&](Transport& tr, int r) {
            const WaitContext w = test_wait();
            algo::Context c{tr, w, 6, count > 10000 ? size_t{64 << 10} : kSmallChunk};
            out[r] = HostBuf(t, count * p);
            algo::allgather_ring(c, in[r].data(), out[r].data(), count, t);
            inplace[r] = HostBuf(t, count * p);
            uint8_t* mine = static_cast<uint8_t*>(inplace[r].data()) + r * count * itemsize(t);
            if (count > 0) std::memcpy(mine, in[r].data(), in[r].nbytes());
            algo::allgather_ring(c, mine, inplace[r].data(), count, t);
          },
          kStrict);
      for (int r = 0; r < p; ++r) {
        const std::string what = std::string("allgather ") + dtype_name(t) + " " + case_name(p, count);
        for (int s = 0; s < p && count > 0; ++s) {
          EXPECT_EQ(0, std::memcmp(static_cast<const uint8_t*>(out[r].data()) + s * in[s].nbytes(), in[s].data(),
                                   in[s].nbytes()))
              << what << ": rank " << r << " block " << s;
        }
        EXPECT_TRUE(inplace[r] == out[r]) << what << ": in-place differs, rank " << r;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, CommAlgoAllGather, ::testing::Range(1, 6));

// ---- broadcast: every root, sizes, chunk sizes ----

class CommAlgoBroadcast : public ::testing::TestWithParam<int> {};

TEST_P(CommAlgoBroadcast, EveryRankGetsRootData) {
  const int p = GetParam();
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{7}, size_t{1009}, (size_t{1} << 20) + 5}) {
    for (size_t chunk : {kSmallChunk, size_t{256} << 10}) {
      if (bytes > 100000 && chunk == kSmallChunk) continue;  // 10k messages: slow and no new path
      for (int root = 0; root < p; ++root) {
        // Every rank starts with different bytes, so a rank that missed a chunk keeps its own.
        std::vector<HostBuf> buf;
        for (int r = 0; r < p; ++r) buf.push_back(rank_input(DType::Int32, ReduceOp::Sum, (bytes + 3) / 4, r, bytes));
        const HostBuf sent = buf[root];
        run_ranks(
            p,
            [&](Transport& tr, int r) {
              const WaitContext w = test_wait();
              algo::Context c{tr, w, 7, chunk};
              algo::broadcast_tree(c, buf[r].data(), bytes, root);
            },
            kStrict);
        for (int r = 0; r < p; ++r) {
          EXPECT_EQ(0, bytes == 0 ? 0 : std::memcmp(buf[r].data(), sent.data(), bytes))
              << "broadcast " << case_name(p, bytes) << " root " << root << " chunk " << chunk << " rank " << r;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, CommAlgoBroadcast, ::testing::Range(1, 6));

// ---- reduce: op x dtype x ranks, every root; `in` untouched, out written at the root only ----

class CommAlgoReduce : public ::testing::TestWithParam<std::tuple<ReduceOp, DType, int>> {};

TEST_P(CommAlgoReduce, RootGetsReduction) {
  const auto [op, t, p] = GetParam();
  for (size_t count : {size_t{0}, size_t{1}, size_t{7}, size_t{1009}}) {
    std::vector<HostBuf> in;
    for (int r = 0; r < p; ++r) in.push_back(rank_input(t, op, count, r, count + 11));
    for (int root = 0; root < p; ++root) {
      std::vector<HostBuf> src(in), out(p), inplace(p);
      const HostBuf sentinel = rank_input(t, ReduceOp::Sum, count, 99, 12);
      run_ranks(
          p,
          [&](Transport& tr, int r) {
            const WaitContext w = test_wait();
            algo::Context c{tr, w, 8, kMidChunk};
            out[r] = sentinel;  // non-roots must leave it alone
            algo::reduce_tree(c, src[r].data(), out[r].data(), count, t, op, root);
            // In place at the root; null output elsewhere.
            inplace[r] = in[r];
            algo::reduce_tree(c, inplace[r].data(), r == root ? inplace[r].data() : nullptr, count, t, op, root);
          },
          mode_for(t));
      const std::string what = "reduce " + case_name(p, count) + " root " + std::to_string(root);
      expect_reduced(out[root], in, 0, op, what);
      EXPECT_TRUE(inplace[root] == out[root]) << what << ": in-place result differs";
      for (int r = 0; r < p; ++r) {
        EXPECT_TRUE(src[r] == in[r]) << what << ": rank " << r << " input modified";
        if (r != root) {
          EXPECT_TRUE(out[r] == sentinel) << what << ": rank " << r << " output written";
          EXPECT_TRUE(inplace[r] == in[r]) << what << ": rank " << r << " input modified (null output)";
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, CommAlgoReduce,
                         ::testing::Combine(::testing::ValuesIn(kOps), ::testing::ValuesIn(kDtypes),
                                            ::testing::Range(1, 6)),
                         [](const auto& info) {
                           return std::string(to_string(std::get<0>(info.param))) + "_" +
                                  dtype_name(std::get<1>(info.param)) + "_p" + std::to_string(std::get<2>(info.param));
                         });

// ---- all-to-all: ranks x sizes, out of place and in place ----

// Byte i of the block rank `src` sends to rank `dst`.
uint8_t a2a_byte(int src, int dst, size_t i) { return static_cast<uint8_t>(src * 31 + dst * 7 + i * 13 + (i >> 8)); }

class CommAlgoAllToAll : public ::testing::TestWithParam<int> {};

TEST_P(CommAlgoAllToAll, ExchangesBlocks) {
  const int p = GetParam();
  for (size_t b : {size_t{0}, size_t{1}, size_t{7}, size_t{1009}, size_t{300007}}) {
    for (bool in_place : {false, true}) {
      std::vector<std::vector<uint8_t>> in(p), out(p);
      for (int r = 0; r < p; ++r) {
        in[r].resize(p * b);
        for (int d = 0; d < p; ++d) {
          for (size_t i = 0; i < b; ++i) in[r][d * b + i] = a2a_byte(r, d, i);
        }
        out[r] = in_place ? in[r] : std::vector<uint8_t>(p * b, 0xEE);
      }
      const auto in_copy = in;
      run_ranks(
          p,
          [&](Transport& tr, int r) {
            const WaitContext w = test_wait();
            algo::Context c{tr, w, 9, b > 10000 ? size_t{64 << 10} : kSmallChunk};
            algo::alltoall_pairwise(c, in_place ? out[r].data() : in[r].data(), out[r].data(), b);
          },
          kStrict);
      for (int r = 0; r < p; ++r) {
        int bad = 0;
        for (int s = 0; s < p && bad == 0; ++s) {
          for (size_t i = 0; i < b; ++i) bad += out[r][s * b + i] != a2a_byte(s, r, i);
        }
        EXPECT_EQ(bad, 0) << "alltoall " << case_name(p, b) << (in_place ? " in place" : "") << " rank " << r;
        if (!in_place) {
          EXPECT_TRUE(in[r] == in_copy[r]) << "alltoall modified its input, rank " << r;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, CommAlgoAllToAll, ::testing::Range(1, 6));

// ---- barrier: nobody leaves before everybody arrived ----

TEST(CommAlgoBarrier, NobodyLeavesEarly) {
  using Clock = std::chrono::steady_clock;
  for (int p = 1; p <= 5; ++p) {
    for (int round = 0; round < 3; ++round) {
      std::vector<Clock::time_point> arrived(p), left(p);
      run_ranks(p, [&](Transport& tr, int r) {
        const WaitContext w = test_wait();
        algo::Context c{tr, w, static_cast<uint32_t>(10 + round)};
        // A different rank is late each round.
        if (r == (round + 1) % p) std::this_thread::sleep_for(std::chrono::milliseconds(30));
        arrived[r] = Clock::now();
        algo::barrier_dissemination(c);
        left[r] = Clock::now();
      });
      const auto last_arrival = *std::max_element(arrived.begin(), arrived.end());
      for (int r = 0; r < p; ++r) EXPECT_GE(left[r], last_arrival) << "p=" << p << " rank " << r << " left early";
    }
  }
}

TEST(CommAlgoBarrier, SendsLogRoundsOfMessages) {
  for (int p = 1; p <= 5; ++p) {
    test::ThreadFabric fabric(p);
    const auto errors = test::run_ranks_collect(fabric, [&](Transport& tr, int r) {
      const WaitContext w = test_wait();
      algo::Context c{tr, w, 1};
      algo::barrier_dissemination(c);
    });
    for (const auto& e : errors) EXPECT_FALSE(e) << "p=" << p;
    const uint64_t rounds = p == 1 ? 0 : static_cast<uint64_t>(std::ceil(std::log2(p)));
    EXPECT_EQ(fabric.messages_sent(), rounds * p) << "p=" << p;
    EXPECT_EQ(fabric.undelivered(), 0u);
  }
}

// ---- ranks that disagree raise CommError within the timeout instead of hanging ----

// Each case runs `call` on 3 ranks with a 500 ms deadline, where rank 2 passes `odd` = true. Every rank must end
// within a few seconds, at least one with a CommError that is not a timeout (the transport's mismatch check), and
// none with another kind of exception. The cases run concurrently (each on its own fabric): most of their time is
// ranks waiting out the deadline.
using DisagreeFn = std::function<void(algo::Context&, bool odd)>;

void expect_disagreements_detected(const std::vector<std::pair<std::string, DisagreeFn>>& cases, SendMode mode) {
  const int p = 3;
  struct Outcome {
    std::vector<std::exception_ptr> errors;
    std::chrono::steady_clock::duration elapsed{};
  };
  std::vector<Outcome> outcomes(cases.size());
  std::vector<std::thread> runners;
  for (size_t k = 0; k < cases.size(); ++k) {
    runners.emplace_back([&, k] {
      test::ThreadFabric fabric(p, mode);
      const auto start = std::chrono::steady_clock::now();
      outcomes[k].errors = test::run_ranks_collect(fabric, [&](Transport& tr, int r) {
        const WaitContext w = test_wait(std::chrono::milliseconds(500), cases[k].first);
        algo::Context c{tr, w, 42, kSmallChunk};
        cases[k].second(c, r == 2);
      });
      outcomes[k].elapsed = std::chrono::steady_clock::now() - start;
    });
  }
  for (auto& th : runners) th.join();

  for (size_t k = 0; k < cases.size(); ++k) {
    const std::string& what = cases[k].first;
    EXPECT_LT(outcomes[k].elapsed, std::chrono::seconds(10)) << what;
    int mismatches = 0;
    for (int r = 0; r < p; ++r) {
      if (!outcomes[k].errors[r]) continue;
      try {
        std::rethrow_exception(outcomes[k].errors[r]);
      } catch (const CommTimeout&) {
      } catch (const CommError&) {
        ++mismatches;
      } catch (const std::exception& e) {
        ADD_FAILURE() << what << ": rank " << r << " raised something other than CommError: " << e.what();
      }
    }
    EXPECT_GE(mismatches, 1) << what << ": no rank reported the mismatch";
  }
}

std::vector<std::pair<std::string, DisagreeFn>> disagreement_cases() {
  const size_t n = 7;
  std::vector<std::pair<std::string, DisagreeFn>> cases;
  for (const auto& a : kAllReduce) {
    cases.emplace_back(std::string(a.name) + " count", [a, n](algo::Context& c, bool odd) {
      std::vector<float> buf(n + 1, 1.0f);
      a.fn(c, buf.data(), odd ? n + 1 : n, DType::Float32, ReduceOp::Sum);
    });
    cases.emplace_back(std::string(a.name) + " tag", [a, n](algo::Context& c, bool odd) {
      std::vector<float> buf(n, 1.0f);
      if (odd) c.tag += 1;
      a.fn(c, buf.data(), n, DType::Float32, ReduceOp::Sum);
    });
  }
  cases.emplace_back("reduce_scatter count", [n](algo::Context& c, bool odd) {
    std::vector<float> in(3 * (n + 1), 1.0f), out(n + 1);
    algo::reduce_scatter_ring(c, in.data(), out.data(), odd ? n + 1 : n, DType::Float32, ReduceOp::Sum);
  });
  cases.emplace_back("allgather count", [n](algo::Context& c, bool odd) {
    std::vector<float> in(n + 1, 1.0f), out(3 * (n + 1));
    algo::allgather_ring(c, in.data(), out.data(), odd ? n + 1 : n, DType::Float32);
  });
  cases.emplace_back("broadcast size", [n](algo::Context& c, bool odd) {
    std::vector<uint8_t> buf(n + 1);
    algo::broadcast_tree(c, buf.data(), odd ? n + 1 : n, 0);
  });
  cases.emplace_back("reduce count", [n](algo::Context& c, bool odd) {
    std::vector<float> in(n + 1, 1.0f), out(n + 1);
    algo::reduce_tree(c, in.data(), out.data(), odd ? n + 1 : n, DType::Float32, ReduceOp::Sum, 0);
  });
  cases.emplace_back("alltoall size", [n](algo::Context& c, bool odd) {
    std::vector<uint8_t> in(3 * (n + 1)), out(3 * (n + 1));
    algo::alltoall_pairwise(c, in.data(), out.data(), odd ? n + 1 : n);
  });
  cases.emplace_back("barrier tag", [](algo::Context& c, bool odd) {
    if (odd) c.tag += 1;
    algo::barrier_dissemination(c);
  });
  return cases;
}

TEST(CommAlgoMismatch, CountOrTagDisagreementRaises) {
  expect_disagreements_detected(disagreement_cases(), SendMode::Eager);
}

TEST(CommAlgoMismatch, CountOrTagDisagreementRaisesRendezvous) {
  expect_disagreements_detected(disagreement_cases(), SendMode::Rendezvous);
}

// A dtype the reductions do not support fails on every rank before any message is sent: no rank is left
// waiting.
TEST(CommAlgoMismatch, UnsupportedDtypeFailsEverywhere) {
  for (const auto& a : kAllReduce) {
    test::ThreadFabric fabric(3);
    const auto errors = test::run_ranks_collect(fabric, [&](Transport& tr, int r) {
      const WaitContext w = test_wait(std::chrono::milliseconds(500));
      algo::Context c{tr, w, 1};
      uint8_t buf[16] = {};
      a.fn(c, buf, 16, DType::UInt8, ReduceOp::Sum);
    });
    for (int r = 0; r < 3; ++r) {
      ASSERT_TRUE(errors[r]) << a.name << " rank " << r << " did not fail";
      EXPECT_THROW(std::rethrow_exception(errors[r]), DTypeError) << a.name << " rank " << r;
    }
    EXPECT_EQ(fabric.messages_sent(), 0u) << a.name;
  }
}

}  // namespace
}  // namespace iccrt::comm
