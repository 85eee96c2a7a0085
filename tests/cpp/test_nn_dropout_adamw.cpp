// dropout (the Philox mask rule of nn_args.hpp, reproducibility, kept fraction, scale, backward mask, p = 0 / 1,
// bad p) and the fused AdamW step against a float64 reference over several steps, with weight decay and
// maximize, in every floating dtype.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "iccrt/core/error.hpp"
#include "iccrt/ops/nn.hpp"
#include "kernels/common/philox.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

using ops::AdamWParams;
using test::close_to;
using test::eps_of;
using test::floating_dtypes;
using test::random_tensor;
using test::to_host;


// ---- dropout ----

bool kept(uint64_t seed, uint64_t offset, uint64_t i, double p) {
  return kernels::philox_uniform_f32(kernels::philox_word(seed, offset, i)) >= p;
}

// The reference output for logical element values xv.
std::vector<double> ref_dropout(const std::vector<double>& xv, double p, uint64_t seed, uint64_t offset) {
  std::vector<double> y(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) y[i] = kept(seed, offset, i, p) ? xv[i] / (1.0 - p) : 0.0;
  return y;
}

TEST(NnDropout, FollowsTheMaskRule) {
  std::mt19937 rng(1);
  for (DType t : floating_dtypes()) {
    for (double p : {0.1, 0.5, 0.9}) {
      for (uint64_t offset : {uint64_t{0}, uint64_t{8}, uint64_t{3}}) {
        for (bool transposed : {false, true}) {
          SCOPED_TRACE(::testing::Message() << dtype_name(t) << " p " << p << " offset " << offset);
          // 1..2 so that no kept element is 0; a transposed view checks the logical (row-major) numbering.
          const Tensor x =
              transposed ? random_tensor({37, 29}, t, 1, 2, rng).t() : random_tensor({29, 37}, t, 1, 2, rng);
          const Tensor y = ops::dropout(x, p, 1234, offset);
          EXPECT_EQ(y.dtype(), t);
          const auto ref = ref_dropout(to_host(x), p, 1234, offset);
          EXPECT_TRUE(close_to(y, {29, 37}, ref, {4 * eps_of(t), 0.0}));
        }
      }
    }
  }
}

TEST(NnDropout, ReproducibleKeepsOneMinusPAndScales) {
  const int64_t n = 200003;
  const Tensor x = ones({n});
  for (double p : {0.1, 0.3, 0.5, 0.8}) {
    const Tensor a = ops::dropout(x, p, 42, 16);
    const Tensor b = ops::dropout(x, p, 42, 16);
    EXPECT_TRUE(test::equals(b, {n}, to_host(a)));
    const auto av = to_host(a);
    const auto cv = to_host(ops::dropout(x, p, 43, 16));
    int64_t kept_n = 0, differ = 0;
    const double scale = static_cast<double>(static_cast<float>(1.0 / (1.0 - p)));
    for (int64_t i = 0; i < n; ++i) {
      if (av[i] != 0.0) {
        ++kept_n;
        EXPECT_EQ(av[i], scale);
      }
      differ += (av[i] != 0.0) != (cv[i] != 0.0);
    }
    const double frac = static_cast<double>(kept_n) / static_cast<double>(n);
    const double sigma = std::sqrt(p * (1 - p) / static_cast<double>(n));
    EXPECT_NEAR(frac, 1 - p, 5 * sigma) << "p " << p;
    EXPECT_GT(differ, n / 20) << "another seed should give another mask";
  }
}

TEST(NnDropout, BackwardUsesTheForwardMask) {
  std::mt19937 rng(2);
  for (DType t : floating_dtypes()) {
    const Tensor x = random_tensor({513}, t, 1, 2, rng);
    const Tensor g = random_tensor({513}, t, 1, 2, rng);
    const auto y = to_host(ops::dropout(x, 0.4, 7, 4));
    const Tensor gi = ops::dropout_backward(g, 0.4, 7, 4);
    const auto gv = to_host(g);
    const auto giv = to_host(gi);
    for (size_t i = 0; i < y.size(); ++i) {
      EXPECT_EQ(y[i] != 0.0, giv[i] != 0.0) << i;
    }
    EXPECT_TRUE(close_to(gi, {513}, ref_dropout(gv, 0.4, 7, 4), {4 * eps_of(t), 0.0}));
  }
}

TEST(NnDropout, EdgeProbabilitiesAndBadP) {
  std::mt19937 rng(3);
  for (DType t : floating_dtypes()) {
    const Tensor x = random_tensor({7, 33}, t, -3, 3, rng);
    EXPECT_TRUE(test::equals(ops::dropout(x, 0.0, 1, 0), {7, 33}, to_host(x)));
    EXPECT_TRUE(test::equals(ops::dropout(x, 1.0, 1, 0), {7, 33}, std::vector<double>(7 * 33, 0.0)));
    EXPECT_TRUE(test::equals(ops::dropout_backward(x, 1.0, 1, 0), {7, 33}, std::vector<double>(7 * 33, 0.0)));
  }
  // Dropped elements are 0 even where the input is not finite.
  const Tensor inf = full({64}, INFINITY);
  EXPECT_TRUE(test::equals(ops::dropout(inf, 1.0, 1, 0), {64}, std::vector<double>(64, 0.0)));
  const auto half_dropped = to_host(ops::dropout(inf, 0.5, 1, 0));
  for (double v : half_dropped) EXPECT_TRUE(v == 0.0 || v == INFINITY) << v;
  const Tensor x = ones({4});
  EXPECT_THROW(ops::dropout(x, -0.1, 1, 0), ValueError);
  EXPECT_THROW(ops::dropout(x, 1.5, 1, 0), ValueError);
  EXPECT_THROW(ops::dropout(x, NAN, 1, 0), ValueError);
  EXPECT_THROW(ops::dropout_backward(x, 2.0, 1, 0), ValueError);
  EXPECT_THROW(ops::dropout(ones({4}, DType::Int32), 0.5, 1, 0), DTypeError);
  EXPECT_EQ(ops::dropout(ones({0, 3}), 0.5, 1, 0).shape(), (Shape{0, 3}));
}

// ---- AdamW ----

struct AdamState {
  std::vector<double> p, m, v;
};

// One step in float64; `round` rounds the stored state to the tensor dtype after the step, as the op stores it.
void ref_adamw_step(AdamState& s, const std::vector<double>& grad, const AdamWParams& hp, DType t) {
  const double bc1 = 1 - std::pow(hp.beta1, static_cast<double>(hp.step));
  const double bc2 = 1 - std::pow(hp.beta2, static_cast<double>(hp.step));
  for (size_t i = 0; i < s.p.size(); ++i) {
    const double g = hp.maximize ? -grad[i] : grad[i];
    const double m = hp.beta1 * s.m[i] + (1 - hp.beta1) * g;
    const double v = hp.beta2 * s.v[i] + (1 - hp.beta2) * g * g;
    const double p =
        s.p[i] * (1 - hp.lr * hp.weight_decay) - hp.lr / bc1 * m / (std::sqrt(v) / std::sqrt(bc2) + hp.eps);
    s.m[i] = test::round_to(t, m);
    s.v[i] = test::round_to(t, v);
    s.p[i] = test::round_to(t, p);
  }
}

TEST(NnAdamW, MatchesReferenceOverSteps) {
  std::mt19937 rng(4);
  for (DType t : floating_dtypes()) {
    for (bool maximize : {false, true}) {
      for (double wd : {0.0, 0.1}) {
        SCOPED_TRACE(::testing::Message() << dtype_name(t) << " maximize " << maximize << " wd " << wd);
        const int64_t n = 20011;  // several threads' worth
        AdamState s;
        Tensor param = random_tensor({n}, t, -1, 1, rng, &s.p);
        Tensor m = zeros({n}, t), v = zeros({n}, t);
        s.m.assign(static_cast<size_t>(n), 0.0);
        s.v.assign(static_cast<size_t>(n), 0.0);
        AdamWParams hp;
        hp.lr = 1e-2;
        hp.weight_decay = wd;
        hp.maximize = maximize;
        for (int64_t step = 1; step <= 5; ++step) {
          hp.step = step;
          // |g| in [0.25, 1], so that v = (1 - beta2) g^2 stays a normal float16; every other element of a wider
          // tensor, so the op has to make the gradient contiguous.
          std::vector<double> wide = test::random_values(2 * n, DType::Float32, -1, 1, rng);
          for (double& w : wide) w = test::round_to(t, (w < 0 ? -0.25 : 0.25) + 0.75 * w);
          const Tensor g = test::make(wide, {2 * n}, t).slice(0, 0, 2 * n, 2);
          const auto gv = to_host(g);
          ops::adamw_(param, g, m, v, hp);
          ref_adamw_step(s, gv, hp, t);
        }
        // 16-bit state rounds every step; the op computes in float and the reference in double, so a value on a
        // rounding boundary can land one ulp away and carry into the next step. The absolute parts are a few ulps
        // of the terms each value is summed from: p ~ 1, m ~ |g| <= 1 (it can cancel to near 0), v ~ 1e-3 g^2.
        const double e = t == DType::Float64 ? 1e-14 : t == DType::Float32 ? 1e-6 : eps_of(t);
        EXPECT_TRUE(close_to(param, {n}, s.p, {4 * e, 4 * e}));
        EXPECT_TRUE(close_to(m, {n}, s.m, {4 * e, 4 * e}));
        EXPECT_TRUE(close_to(v, {n}, s.v, {4 * e, 4e-3 * e}));
      }
    }
  }
}

TEST(NnAdamW, BadInputs) {
  const Tensor p = zeros({4}), g = ones({4}), m = zeros({4}), v = zeros({4});
  AdamWParams hp;
  EXPECT_THROW(ops::adamw_(p, ones({5}), m, v, hp), ShapeError);
  EXPECT_THROW(ops::adamw_(p, ones({4}, DType::Float64), m, v, hp), DTypeError);
  EXPECT_THROW(ops::adamw_(zeros({4}, DType::Int32), ones({4}, DType::Int32), zeros({4}, DType::Int32),
                           zeros({4}, DType::Int32), hp),
               DTypeError);
  EXPECT_THROW(ops::adamw_(zeros({4, 2}).t(), ones({2, 4}), zeros({2, 4}), zeros({2, 4}), hp), ValueError);
  AdamWParams bad = hp;
  bad.step = 0;
  EXPECT_THROW(ops::adamw_(p, g, m, v, bad), ValueError);
  bad = hp;
  bad.beta1 = 1.0;
  EXPECT_THROW(ops::adamw_(p, g, m, v, bad), ValueError);
  bad = hp;
  bad.lr = -1;
  EXPECT_THROW(ops::adamw_(p, g, m, v, bad), ValueError);
}

}  // namespace
}  // namespace iccrt
