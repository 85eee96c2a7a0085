// The reduction kernels collectives use (kernels/cpu/comm_reduce.hpp), against per-element references that
// perform the same arithmetic in the same type: float16/bfloat16 in float rounded once, integers wrapping. So
// results are compared exactly, which also pins down operand order for comm_reduce_n, NaN propagation of Min
// and Max, and the block boundaries of the vectorised loops (sizes around multiples of the vector width and of
// the 512-element conversion block).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "comm_test_transport.hpp"
#include "iccrt/core/error.hpp"
#include "kernels/cpu/comm_reduce.hpp"

namespace iccrt::comm {
namespace {

using kernels::cpu::comm_check_reducible;
using kernels::cpu::comm_reduce2;
using kernels::cpu::comm_reduce_into;
using kernels::cpu::comm_reduce_n;
using kernels::cpu::comm_scale_avg;
using test::HostBuf;

const std::vector<DType> kDtypes = {DType::Float32,  DType::Float64, DType::Float16,
                                    DType::BFloat16, DType::Int32,   DType::Int64};
const std::vector<ReduceOp> kOps = {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Min, ReduceOp::Max, ReduceOp::Avg};
const std::vector<size_t> kSizes = {0, 1, 7, 8, 31, 32, 33, 511, 512, 513, 1031, 4099};

// op(a, b) in type C, with the semantics the kernels promise: Min/Max propagate NaN, integers wrap.
template <class C>
C apply(ReduceOp op, C a, C b) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Avg:
      return a + b;
    case ReduceOp::Prod:
      return a * b;
    case ReduceOp::Min:
      return std::isnan(a) || std::isnan(b) ? std::numeric_limits<C>::quiet_NaN() : std::min(a, b);
    case ReduceOp::Max:
      return std::isnan(a) || std::isnan(b) ? std::numeric_limits<C>::quiet_NaN() : std::max(a, b);
  }
  return a;
}
int64_t apply_int(DType t, ReduceOp op, int64_t a, int64_t b) {
  const uint64_t ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
  switch (op) {
    case ReduceOp::Sum:
      return static_cast<int64_t>(ua + ub);  // wraps; HostBuf::set_int narrows int32
    case ReduceOp::Prod:
      return static_cast<int64_t>(ua * ub);
    case ReduceOp::Min:
      return std::min(a, b);
    case ReduceOp::Max:
      return std::max(a, b);
    default:
      break;
  }
  ADD_FAILURE() << "no integer reference for op " << static_cast<int>(op) << " on " << dtype_name(t);
  return 0;
}

// Random operands: floats in [-2, 2] (Prod: [0.5, 2), so long products stay finite), integers over their whole
// range (Sum and Prod then wrap) and odd for Prod (never collapsing to zero). NaNs at a few positions when asked.
HostBuf random_buf(DType t, ReduceOp op, size_t n, std::mt19937_64& rng, bool nans) {
  HostBuf b(t, n);
  std::uniform_real_distribution<float> sym(-2.0f, 2.0f), pos(0.5f, 2.0f);
  for (size_t i = 0; i < n; ++i) {
    if (is_floating(t)) {
      const bool nan = nans && rng() % 13 == 0;
      b.set(i, nan ? std::nan("") : op == ReduceOp::Prod ? pos(rng) : sym(rng));
    } else {
      const int64_t v = static_cast<int64_t>(rng());
      b.set_int(i, op == ReduceOp::Prod ? (v | 1) : v);
    }
  }
  return b;
}

// The expected result of folding srcs left to right: in float for the 16-bit types (rounded once, at the end),
// in the dtype itself otherwise.
HostBuf reference(ReduceOp op, const std::vector<const HostBuf*>& srcs) {
  const DType t = srcs[0]->dtype();
  const size_t n = srcs[0]->size();
  HostBuf out(t, n);
  for (size_t i = 0; i < n; ++i) {
    if (t == DType::Float64) {
      double acc = srcs[0]->get(i);
      for (size_t s = 1; s < srcs.size(); ++s) acc = apply<double>(op, acc, srcs[s]->get(i));
      out.set(i, acc);
    } else if (is_floating(t)) {
      float acc = static_cast<float>(srcs[0]->get(i));
      for (size_t s = 1; s < srcs.size(); ++s) acc = apply<float>(op, acc, static_cast<float>(srcs[s]->get(i)));
      out.set(i, acc);
    } else {
      int64_t acc = srcs[0]->get_int(i);
      for (size_t s = 1; s < srcs.size(); ++s) acc = apply_int(t, op, acc, srcs[s]->get_int(i));
      out.set_int(i, acc);
    }
  }
  return out;
}

// Exact comparison; NaN matches NaN (payloads may differ), and +0 matches -0.
void expect_same(const HostBuf& got, const HostBuf& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < got.size() && failures < 5; ++i) {
    bool ok;
    if (is_floating(got.dtype())) {
      const double g = got.get(i), w = want.get(i);
      ok = std::isnan(w) ? std::isnan(g) : g == w;
      if (!ok) ADD_FAILURE() << what << ": element " << i << " is " << g << ", expected " << w;
    } else {
      ok = got.get_int(i) == want.get_int(i);
      if (!ok)
        ADD_FAILURE() << what << ": element " << i << " is " << got.get_int(i) << ", expected " << want.get_int(i);
    }
    failures += !ok;
  }
}

class CommReduceKernel : public ::testing::TestWithParam<std::tuple<DType, ReduceOp>> {};

TEST_P(CommReduceKernel, MatchesReference) {
  const auto [t, op] = GetParam();
  if (op == ReduceOp::Avg && !is_floating(t)) {
    HostBuf a(t, 4), b(t, 4);
    EXPECT_THROW(comm_reduce2(a.data(), a.data(), b.data(), 4, t, op), DTypeError);
    EXPECT_THROW(comm_check_reducible(t, op), DTypeError);
    return;
  }
  EXPECT_NO_THROW(comm_check_reducible(t, op));
  std::mt19937_64 rng(1234 + static_cast<int>(t) * 10 + static_cast<int>(op));
  const bool nans = is_floating(t);
  for (size_t n : kSizes) {
    const std::string at = std::string(dtype_name(t)) + " n=" + std::to_string(n);
    const HostBuf a = random_buf(t, op, n, rng, nans), b = random_buf(t, op, n, rng, nans);
    const HostBuf want = reference(op, {&a, &b});

    HostBuf d(t, n);  // out of place
    comm_reduce2(d.data(), a.data(), b.data(), n, t, op);
    expect_same(d, want, "reduce2 " + at);
    d = a;  // dst == a
    comm_reduce2(d.data(), d.data(), b.data(), n, t, op);
    expect_same(d, want, "reduce2 dst==a " + at);
    d = b;  // dst == b
    comm_reduce2(d.data(), a.data(), d.data(), n, t, op);
    expect_same(d, want, "reduce2 dst==b " + at);
    d = a;
    comm_reduce_into(d.data(), b.data(), n, t, op);
    expect_same(d, want, "reduce_into " + at);

    // n sources, with dst separate, aliasing the first and aliasing the last.
    std::vector<HostBuf> srcs;
    for (int s = 0; s < 5; ++s) srcs.push_back(random_buf(t, op, n, rng, nans));
    for (int nsrc = 1; nsrc <= 5; ++nsrc) {
      std::vector<const HostBuf*> refs;
      for (int s = 0; s < nsrc; ++s) refs.push_back(&srcs[s]);
      const HostBuf want_n = reference(op, refs);
      for (int alias : {-1, 0, nsrc - 1}) {
        std::vector<HostBuf> copy(srcs.begin(), srcs.begin() + nsrc);
        std::vector<const void*> ptrs;
        for (auto& s : copy) ptrs.push_back(s.data());
        HostBuf separate(t, n);
        HostBuf& dst = alias < 0 ? separate : copy[static_cast<size_t>(alias)];
        comm_reduce_n(dst.data(), ptrs.data(), nsrc, n, t, op);
        expect_same(dst, want_n,
                    "reduce_n nsrc=" + std::to_string(nsrc) + " alias=" + std::to_string(alias) + " " + at);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, CommReduceKernel,
                         ::testing::Combine(::testing::ValuesIn(kDtypes), ::testing::ValuesIn(kOps)),
                         [](const auto& info) {
                           return std::string(dtype_name(std::get<0>(info.param))) + "_" +
                                  to_string(std::get<1>(info.param));
                         });

// NaN in either operand wins for Min and Max, whichever side it is on, in the vector body and the tail.
TEST(CommReduce, MinMaxPropagateNaN) {
  for (DType t : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16}) {
    for (ReduceOp op : {ReduceOp::Min, ReduceOp::Max}) {
      const size_t n = 37;
      HostBuf a(t, n), b(t, n), d(t, n);
      for (size_t i = 0; i < n; ++i) {
        a.set(i, i % 3 == 1 ? std::nan("") : 1.0);
        b.set(i, i % 3 == 2 ? std::nan("") : -1.0);
      }
      comm_reduce2(d.data(), a.data(), b.data(), n, t, op);
      for (size_t i = 0; i < n; ++i) {
        if (i % 3 == 0) {
          EXPECT_EQ(d.get(i), op == ReduceOp::Min ? -1.0 : 1.0) << dtype_name(t) << " " << i;
        } else {
          EXPECT_TRUE(std::isnan(d.get(i))) << dtype_name(t) << " " << to_string(op) << " element " << i;
        }
      }
    }
  }
}

// comm_reduce_n accumulates 16-bit floats in float and rounds once: 1 + u/2 + u/2 (u = the type's unit in the
// last place at 1) gives 1 + u, where rounding after every step would give 1 twice (ties to even).
TEST(CommReduce, HalfTypesRoundOnceInReduceN) {
  for (DType t : {DType::Float16, DType::BFloat16}) {
    const double u = t == DType::Float16 ? std::ldexp(1.0, -10) : std::ldexp(1.0, -7);
    HostBuf one(t, 1), half_u(t, 1), out(t, 1);
    one.set(0, 1.0);
    half_u.set(0, u / 2);
    const void* srcs[3] = {one.data(), half_u.data(), half_u.data()};
    comm_reduce_n(out.data(), srcs, 3, 1, t, ReduceOp::Sum);
    EXPECT_EQ(out.get(0), 1.0 + u) << dtype_name(t);
    // Two-operand steps round each time, which is why collectives that can should use reduce_n.
    comm_reduce2(out.data(), one.data(), half_u.data(), 1, t, ReduceOp::Sum);
    comm_reduce_into(out.data(), half_u.data(), 1, t, ReduceOp::Sum);
    EXPECT_EQ(out.get(0), 1.0) << dtype_name(t);
  }
}

TEST(CommReduce, IntegersWrap) {
  HostBuf a(DType::Int32, 2), b(DType::Int32, 2);
  a.set_int(0, std::numeric_limits<int32_t>::max());
  b.set_int(0, 1);
  a.set_int(1, 65536);
  b.set_int(1, 65536);
  HostBuf s = a, p = a;
  comm_reduce_into(s.data(), b.data(), 2, DType::Int32, ReduceOp::Sum);
  comm_reduce_into(p.data(), b.data(), 2, DType::Int32, ReduceOp::Prod);
  EXPECT_EQ(s.get_int(0), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(p.get_int(1), 0);  // 2^32 wraps to 0
  HostBuf c(DType::Int64, 1), e(DType::Int64, 1);
  c.set_int(0, std::numeric_limits<int64_t>::min());
  e.set_int(0, -1);
  comm_reduce_into(c.data(), e.data(), 1, DType::Int64, ReduceOp::Prod);
  EXPECT_EQ(c.get_int(0), std::numeric_limits<int64_t>::min());  // -INT64_MIN wraps to itself
}

TEST(CommReduce, ScaleAvgDividesExactly) {
  std::mt19937_64 rng(7);
  for (DType t : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16}) {
    for (int divisor : {1, 3, 5, 8}) {
      const size_t n = 1031;
      const HostBuf x = random_buf(t, ReduceOp::Sum, n, rng, false);
      HostBuf y = x, want(t, n);
      comm_scale_avg(y.data(), n, t, divisor);
      for (size_t i = 0; i < n; ++i) {
        // One correctly rounded division: through float for 16-bit types (float has the 2p + 2 bits that make
        // the double rounding harmless), through double for float32.
        if (t == DType::Float64) {
          want.set(i, x.get(i) / divisor);
        } else {
          want.set(i, static_cast<float>(x.get(i)) / static_cast<float>(divisor));
        }
      }
      expect_same(y, want, std::string("scale_avg ") + dtype_name(t) + " / " + std::to_string(divisor));
    }
  }
  HostBuf i32(DType::Int32, 4);
  EXPECT_THROW(comm_scale_avg(i32.data(), 4, DType::Int32, 2), DTypeError);
  HostBuf f(DType::Float32, 4);
  EXPECT_THROW(comm_scale_avg(f.data(), 4, DType::Float32, 0), ValueError);
}

TEST(CommReduce, RejectsUnsupportedDtypes) {
  uint8_t a[8] = {}, b[8] = {};
  const void* srcs[2] = {a, b};
  for (DType t : {DType::UInt8, DType::Bool}) {
    for (ReduceOp op : kOps) {
      EXPECT_THROW(comm_check_reducible(t, op), DTypeError);
      EXPECT_THROW(comm_reduce2(a, a, b, 8, t, op), DTypeError);
      EXPECT_THROW(comm_reduce_into(a, b, 8, t, op), DTypeError);
      EXPECT_THROW(comm_reduce_n(a, srcs, 2, 8, t, op), DTypeError);
    }
  }
  float f[2] = {};
  const void* none[1] = {f};
  EXPECT_THROW(comm_reduce_n(f, none, 0, 2, DType::Float32, ReduceOp::Sum), ValueError);
  // Even an empty reduction checks its dtype: a bad call fails the same way at every size.
  EXPECT_THROW(comm_reduce_into(a, b, 0, DType::Bool, ReduceOp::Sum), DTypeError);
}

// A buffer far larger than the conversion blocks and caches, as collectives pass them.
TEST(CommReduce, LargeBuffers) {
  std::mt19937_64 rng(99);
  const size_t n = (size_t{1} << 20) + 3;
  for (DType t : {DType::Float32, DType::BFloat16}) {
    const HostBuf a = random_buf(t, ReduceOp::Sum, n, rng, false), b = random_buf(t, ReduceOp::Sum, n, rng, false);
    HostBuf d = a;
    comm_reduce_into(d.data(), b.data(), n, t, ReduceOp::Sum);
    expect_same(d, reference(ReduceOp::Sum, {&a, &b}), std::string("large ") + dtype_name(t));
  }
}

}  // namespace
}  // namespace iccrt::comm
