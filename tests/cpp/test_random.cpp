// rand / randn / uniform_ / normal_: reproducibility, the Philox counter contract, and the distributions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "iccrt/core/error.hpp"
#include "iccrt/core/generator.hpp"
#include "kernels/common/philox.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  return ac.nbytes() == bc.nbytes() && std::memcmp(ac.data_ptr(), bc.data_ptr(), ac.nbytes()) == 0;
}

struct Moments {
  double mean, var, min, max;
};
Moments moments(const std::vector<double>& v) {
  double s = 0, lo = INFINITY, hi = -INFINITY;
  for (double x : v) {
    s += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  const double m = s / v.size();
  double q = 0;
  for (double x : v) q += (x - m) * (x - m);
  return {m, q / (v.size() - 1), lo, hi};
}

TEST(Random, SameSeedSameBitsDifferentSeedDifferent) {
  for (DType t : test::floating_dtypes()) {
    Generator g1(42), g2(42), g3(43);
    const Tensor a = rand({1001}, t, &g1), b = rand({1001}, t, &g2), c = rand({1001}, t, &g3);
    EXPECT_EQ(a.dtype(), t);
    EXPECT_EQ(a.shape(), (Shape{1001}));
    EXPECT_TRUE(bitwise_equal(a, b)) << dtype_name(t);
    const auto av = test::to_host(a), cv = test::to_host(c);
    int same = 0;
    for (size_t i = 0; i < av.size(); ++i) same += av[i] == cv[i];
    EXPECT_LT(same, 50) << dtype_name(t);  // 16-bit types collide now and then, not wholesale

    Generator n1(5), n2(5);
    EXPECT_TRUE(bitwise_equal(randn({3, 333}, t, &n1), randn({3, 333}, t, &n2))) << dtype_name(t);
  }
}

TEST(Random, OffsetAdvancesAndReproducesADraw) {
  for (DType t : test::floating_dtypes()) {
    Generator g(7);
    const Tensor a = rand({100}, t, &g);
    const uint64_t after_first = g.offset();
    EXPECT_GT(after_first, 0u);
    EXPECT_EQ(after_first % 4, 0u);
    const Tensor b = rand({100}, t, &g);
    EXPECT_GT(g.offset(), after_first);
    EXPECT_FALSE(bitwise_equal(a, b)) << dtype_name(t);
    Generator h(7);
    h.set_offset(after_first);
    EXPECT_TRUE(bitwise_equal(rand({100}, t, &h), b)) << dtype_name(t);

    const uint64_t before_normal = g.offset();
    const Tensor n1 = randn({64}, t, &g);
    EXPECT_GT(g.offset(), before_normal);
    EXPECT_FALSE(bitwise_equal(n1, randn({64}, t, &g)));
  }
}

TEST(Random, ElementDependsOnlyOnSeedAndCounter) {
  // A draw of 10 values is the prefix of a draw of 1000 from the same (seed, offset), and equals the Philox
  // reference that the CUDA kernels share.
  for (DType t : test::floating_dtypes()) {
    Generator g1(123), g2(123);
    const auto small = test::to_host(rand({10}, t, &g1));
    const auto large = test::to_host(rand({1000}, t, &g2));
    for (size_t i = 0; i < small.size(); ++i) EXPECT_EQ(small[i], large[i]) << dtype_name(t) << " [" << i << "]";
  }
  for (uint64_t seed : {0ull, 1ull, 0x123456789abcdefull}) {
    Generator g(seed);
    g.set_offset(8);
    const auto f = test::to_host(rand({257}, DType::Float32, &g));
    for (size_t i = 0; i < f.size(); ++i)
      ASSERT_EQ(f[i], static_cast<double>(static_cast<float>(kernels::philox_uniform_at(seed, 8, i, false)))) << i;
    Generator gd(seed);
    const auto d = test::to_host(rand({257}, DType::Float64, &gd));
    for (size_t i = 0; i < d.size(); ++i) ASSERT_EQ(d[i], kernels::philox_uniform_at(seed, 0, i, true)) << i;
    Generator gn(seed);
    const auto n = test::to_host(randn({257}, DType::Float32, &gn));
    for (size_t i = 0; i < n.size(); ++i) ASSERT_NEAR(n[i], kernels::philox_normal_at(seed, 0, i, false), 1e-5) << i;
  }
}

TEST(Random, UniformBoundsAndMoments) {
  constexpr int64_t kN = 1000000;
  for (DType t : test::floating_dtypes()) {
    // rand: [0, 1) -- a 16-bit type must not round values just below 1 up to 1.
    Generator g(2024);
    const Moments r = moments(test::to_host(rand({kN}, t, &g)));
    EXPECT_GE(r.min, 0.0) << dtype_name(t);
    EXPECT_LT(r.max, 1.0) << dtype_name(t);
    EXPECT_NEAR(r.mean, 0.5, 5 * std::sqrt(1.0 / 12 / kN) + 1e-3) << dtype_name(t);
    EXPECT_NEAR(r.var, 1.0 / 12, 0.003) << dtype_name(t);

    // uniform_: [low, high)
    Tensor x = empty({1000, 1000}, t);
    uniform_(x, -2.0, 3.0, &g);
    const Moments u = moments(test::to_host(x));
    EXPECT_GE(u.min, -2.0) << dtype_name(t);
    EXPECT_LT(u.max, 3.0) << dtype_name(t);
    EXPECT_NEAR(u.mean, 0.5, 5 * 5 / std::sqrt(12.0 * kN) + 2e-3) << dtype_name(t);
    EXPECT_NEAR(u.var, 25.0 / 12, 0.01) << dtype_name(t);
  }
}

TEST(Random, NormalMoments) {
  constexpr int64_t kN = 1000000;
  for (DType t : test::floating_dtypes()) {
    Generator g(99);
    const auto v = test::to_host(randn({kN}, t, &g));
    const Moments m = moments(v);
    EXPECT_NEAR(m.mean, 0.0, 5.0 / std::sqrt(double(kN))) << dtype_name(t);
    EXPECT_NEAR(m.var, 1.0, 5 * std::sqrt(2.0 / kN)) << dtype_name(t);
    int64_t within1 = 0;
    for (double x : v) within1 += std::fabs(x) < 1.0;
    EXPECT_NEAR(double(within1) / kN, 0.682689, 0.003) << dtype_name(t);
    EXPECT_TRUE(std::isfinite(m.min) && std::isfinite(m.max)) << dtype_name(t);

    Tensor y = empty({kN}, t);
    normal_(y, 3.0, 2.0, &g);
    const Moments n = moments(test::to_host(y));
    EXPECT_NEAR(n.mean, 3.0, 5 * 2.0 / std::sqrt(double(kN)) + 2e-3) << dtype_name(t);
    EXPECT_NEAR(n.var, 4.0, 4.0 * 5 * std::sqrt(2.0 / kN) + 2e-3) << dtype_name(t);
  }
}

TEST(Random, NonContiguousTargetOnlyTouchesTheView) {
  Tensor x = zeros({4, 6}, DType::Float32);
  Tensor v = x.slice(1, 0, 6, 2);
  Generator g(1);
  uniform_(v, 1.0, 2.0, &g);
  const auto h = test::to_host(x);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 6; ++c) {
      const double e = h[r * 6 + c];
      if (c % 2) {
        EXPECT_EQ(e, 0.0) << r << "," << c;
      } else {
        EXPECT_TRUE(e >= 1.0 && e < 2.0) << r << "," << c << ": " << e;
      }
    }
}

TEST(Random, DefaultGeneratorAndManualSeed) {
  manual_seed(5);
  EXPECT_EQ(default_generator().seed(), 5u);
  EXPECT_EQ(default_generator().offset(), 0u);
  const Tensor a = rand({50});
  EXPECT_GT(default_generator().offset(), 0u);
  Generator g(5);
  EXPECT_TRUE(bitwise_equal(a, rand({50}, {}, &g)));
  manual_seed(5);
  EXPECT_TRUE(bitwise_equal(a, rand({50})));
  EXPECT_FALSE(bitwise_equal(a, rand({50})));
}

TEST(Random, IntegerDtypesRejected) {
  for (DType t : {DType::Int32, DType::Int64, DType::UInt8, DType::Bool}) {
    Generator g(1);
    EXPECT_THROW(rand({4}, t, &g), DTypeError) << dtype_name(t);
    EXPECT_THROW(randn({4}, t, &g), DTypeError) << dtype_name(t);
    Tensor x = zeros({4}, t);
    EXPECT_THROW(uniform_(x, 0, 1, &g), DTypeError) << dtype_name(t);
    EXPECT_THROW(normal_(x, 0, 1, &g), DTypeError) << dtype_name(t);
  }
  EXPECT_EQ(rand({0}).numel(), 0);
  EXPECT_EQ(randn({2, 0}, DType::Float64).numel(), 0);
}

}  // namespace
}  // namespace iccrt
