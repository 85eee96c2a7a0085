// ops::conv2d / conv2d_backward and ops::max_pool2d / max_pool2d_backward against direct float64 loops written
// from the definitions (cross-correlation with stride, padding, dilation and groups; PyTorch's pooling rules).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "iccrt/core/error.hpp"
#include "iccrt/ops/nn.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

using test::to_host;

// ---- conv2d ----

struct ConvRef {
  Shape y_shape;
  std::vector<double> y, y_abs, gx, gx_abs, gw, gw_abs, gb, gb_abs;
};

// x [N, C, H, W], w [O, C/g, kh, kw], gy [N, O, oh, ow] (gy may be empty: forward only). *_abs: sums of |terms|.
ConvRef conv_reference(const Tensor& xt, const Tensor& wt, const Tensor& bt, const Tensor& gyt,
                       const ops::Conv2dParams& p) {
  const auto x = to_host(xt), w = to_host(wt);
  const auto b = bt.defined() ? to_host(bt) : std::vector<double>();
  const int64_t N = xt.size(0), C = xt.size(1), H = xt.size(2), W = xt.size(3);
  const int64_t O = wt.size(0), kh = wt.size(2), kw = wt.size(3), G = p.groups, cg = C / G, og = O / G;
  const int64_t oh = (H + 2 * p.padding[0] - p.dilation[0] * (kh - 1) - 1) / p.stride[0] + 1;
  const int64_t ow = (W + 2 * p.padding[1] - p.dilation[1] * (kw - 1) - 1) / p.stride[1] + 1;
  ConvRef r;
  r.y_shape = {N, O, oh, ow};
  r.y.assign(N * O * oh * ow, 0.0);
  r.y_abs = r.y;
  r.gx.assign(x.size(), 0.0);
  r.gx_abs = r.gx;
  r.gw.assign(w.size(), 0.0);
  r.gw_abs = r.gw;
  r.gb.assign(O, 0.0);
  r.gb_abs = r.gb;
  const auto gy = gyt.defined() ? to_host(gyt) : std::vector<double>(r.y.size(), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t yi = ((n * O + o) * oh + oy) * ow + ox;
          double acc = b.empty() ? 0.0 : b[o], acc_abs = std::fabs(acc);
          const double g = gy[yi];
          r.gb[o] += g;
          r.gb_abs[o] += std::fabs(g);
          for (int64_t cl = 0; cl < cg; ++cl) {
            const int64_t c = (o / og) * cg + cl;
            for (int64_t ki = 0; ki < kh; ++ki)
              for (int64_t kj = 0; kj < kw; ++kj) {
                const int64_t iy = oy * p.stride[0] - p.padding[0] + ki * p.dilation[0];
                const int64_t ix = ox * p.stride[1] - p.padding[1] + kj * p.dilation[1];
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const int64_t xi = ((n * C + c) * H + iy) * W + ix, wi = ((o * cg + cl) * kh + ki) * kw + kj;
                acc += x[xi] * w[wi];
                acc_abs += std::fabs(x[xi] * w[wi]);
                r.gx[xi] += g * w[wi];
                r.gx_abs[xi] += std::fabs(g * w[wi]);
                r.gw[wi] += g * x[xi];
                r.gw_abs[wi] += std::fabs(g * x[xi]);
              }
          }
          r.y[yi] = acc;
          r.y_abs[yi] = acc_abs;
        }
  return r;
}

double sum_rtol(DType t) {
  switch (t) {
    case DType::Float64:
      return 1e-12;
    case DType::Float32:
      return 1e-5;
    case DType::Float16:
      return 1e-3;
    default:
      return 1e-2;
  }
}

::testing::AssertionResult sum_close(const Tensor& got, const Shape& shape, const std::vector<double>& ref,
                                     std::vector<double> absum, DType t) {
  if (got.defined() && got.dtype() != t)
    return ::testing::AssertionFailure() << "dtype " << dtype_name(got.dtype()) << ", expected " << dtype_name(t);
  const double floor = t == DType::Float16 ? std::ldexp(1.0, -24) : 1e-300;
  for (auto& a : absum) a = a * sum_rtol(t) + floor;
  return test::close_to(got, shape, ref, test::Tol{0, 0}, absum);
}

struct ConvCase {
  int64_t n, c, h, w, o, kh, kw;
  ops::Conv2dParams p;
  bool bias;
};

void check_conv(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dParams& p, std::mt19937& rng) {
  const DType t = x.dtype();
  SCOPED_TRACE(::testing::Message() << "dtype " << dtype_name(t) << " x " << test::shape_str(x.shape()) << " w "
                                    << test::shape_str(w.shape()) << " stride " << p.stride[0] << "," << p.stride[1]
                                    << " pad " << p.padding[0] << "," << p.padding[1] << " dil " << p.dilation[0] << ","
                                    << p.dilation[1] << " groups " << p.groups << " bias " << b.defined());
  const Tensor y = ops::conv2d(x, w, b, p);
  const ConvRef fwd = conv_reference(x, w, b, Tensor(), p);
  EXPECT_TRUE(sum_close(y, fwd.y_shape, fwd.y, fwd.y_abs, t));
  const Tensor gy = test::random_tensor(fwd.y_shape, t, -1, 1, rng);
  const ConvRef r = conv_reference(x, w, b, gy, p);
  const auto g = ops::conv2d_backward(gy, x, w, p);
  EXPECT_TRUE(sum_close(g.grad_input, x.shape(), r.gx, r.gx_abs, t)) << "grad_input";
  EXPECT_TRUE(sum_close(g.grad_weight, w.shape(), r.gw, r.gw_abs, t)) << "grad_weight";
  EXPECT_TRUE(sum_close(g.grad_bias, {w.size(0)}, r.gb, r.gb_abs, t)) << "grad_bias";
}

void check_conv_case(const ConvCase& c, DType t, std::mt19937& rng) {
  const Tensor x = test::random_tensor({c.n, c.c, c.h, c.w}, t, -1, 1, rng);
  const Tensor w = test::random_tensor({c.o, c.c / c.p.groups, c.kh, c.kw}, t, -1, 1, rng);
  const Tensor b = c.bias ? test::random_tensor({c.o}, t, -1, 1, rng) : Tensor();
  check_conv(x, w, b, c.p, rng);
}

ops::Conv2dParams conv_params(std::array<int64_t, 2> s, std::array<int64_t, 2> pad, std::array<int64_t, 2> d,
                              int64_t g) {
  ops::Conv2dParams p;
  p.stride = s;
  p.padding = pad;
  p.dilation = d;
  p.groups = g;
  return p;
}

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {2, 3, 9, 11, 4, 3, 3, conv_params({1, 1}, {0, 0}, {1, 1}, 1), true},
      {2, 3, 9, 11, 5, 3, 3, conv_params({2, 2}, {1, 2}, {1, 1}, 1), true},   // stride 2, padding
      {1, 2, 13, 10, 3, 3, 2, conv_params({1, 2}, {2, 1}, {2, 2}, 1), true},  // dilation 2
      {2, 4, 7, 9, 6, 3, 2, conv_params({2, 1}, {1, 1}, {1, 2}, 2), false},   // groups 2, no bias
      {3, 6, 5, 5, 9, 1, 1, conv_params({1, 1}, {0, 0}, {1, 1}, 3), true},    // 1x1: no unfolding
      {2, 4, 8, 7, 4, 1, 1, conv_params({2, 2}, {0, 0}, {1, 1}, 1), false},   // 1x1 with stride
      {1, 3, 4, 4, 2, 5, 5, conv_params({1, 1}, {2, 2}, {1, 1}, 1), true},    // kernel as large as the input
      {2, 16, 12, 12, 20, 3, 3, conv_params({1, 1}, {1, 1}, {1, 1}, 4), true},
  };
  return cases;
}

TEST(NnConv, Float32AndFloat64) {
  std::mt19937 rng(21);
  for (const auto& c : conv_cases())
    for (DType t : {DType::Float32, DType::Float64}) check_conv_case(c, t, rng);
}

TEST(NnConv, AllFloatingDtypes) {
  std::mt19937 rng(22);
  for (DType t : test::floating_dtypes()) {
    check_conv_case(conv_cases()[1], t, rng);
    check_conv_case(conv_cases()[3], t, rng);
  }
}

TEST(NnConv, NonContiguousAndUnbatched) {
  std::mt19937 rng(23);
  const ops::Conv2dParams p = conv_params({2, 1}, {1, 1}, {1, 1}, 1);
  const Tensor x = test::random_tensor({2, 3, 10, 8}, DType::Float32, -1, 1, rng).transpose(2, 3);  // [2, 3, 8, 10]
  const Tensor w = test::random_tensor({4, 3, 3, 3}, DType::Float32, -1, 1, rng).transpose(2, 3);
  ASSERT_FALSE(x.is_contiguous());
  check_conv(x, w, test::random_tensor({4}, DType::Float32, -1, 1, rng), p, rng);
  // A 3-d input is one image; its gradient keeps the 3-d shape.
  const Tensor x3 = test::random_tensor({3, 7, 6}, DType::Float64, -1, 1, rng);
  const Tensor w3 = test::random_tensor({2, 3, 2, 2}, DType::Float64, -1, 1, rng);
  const Tensor y3 = ops::conv2d(x3, w3, Tensor(), p);
  const Tensor y4 = ops::conv2d(x3.unsqueeze(0), w3, Tensor(), p);
  EXPECT_TRUE(test::equals(y3, {2, 4, 7}, to_host(y4)));
  const auto g3 = ops::conv2d_backward(y3, x3, w3, p);
  const auto g4 = ops::conv2d_backward(y4, x3.unsqueeze(0), w3, p);
  EXPECT_TRUE(test::equals(g3.grad_input, {3, 7, 6}, to_host(g4.grad_input)));
  EXPECT_TRUE(test::equals(g3.grad_weight, {2, 3, 2, 2}, to_host(g4.grad_weight)));
}

TEST(NnConv, BackwardComputesOnlyWhatIsAsked) {
  std::mt19937 rng(24);
  const Tensor x = test::random_tensor({1, 2, 5, 5}, DType::Float32, -1, 1, rng);
  const Tensor w = test::random_tensor({3, 2, 3, 3}, DType::Float32, -1, 1, rng);
  const Tensor gy = test::random_tensor({1, 3, 3, 3}, DType::Float32, -1, 1, rng);
  const auto g = ops::conv2d_backward(gy, x, w, {}, {false, true, false});
  EXPECT_FALSE(g.grad_input.defined());
  EXPECT_TRUE(g.grad_weight.defined());
  EXPECT_FALSE(g.grad_bias.defined());
}

TEST(NnConv, BadArgumentsRaiseTypedErrors) {
  const Tensor x = zeros({1, 4, 6, 6}), w = zeros({2, 4, 3, 3});
  EXPECT_THROW(ops::conv2d(zeros({4, 6}), w, Tensor()), ShapeError);
  EXPECT_THROW(ops::conv2d(x, zeros({2, 3, 3, 3}), Tensor()), ShapeError);  // weight channels
  EXPECT_THROW(ops::conv2d(x, zeros({2, 4, 3}), Tensor()), ShapeError);
  EXPECT_THROW(ops::conv2d(x, zeros({3, 2, 3, 3}), Tensor(), conv_params({1, 1}, {0, 0}, {1, 1}, 2)),
               ShapeError);                                                 // 3 out channels in 2 groups
  EXPECT_THROW(ops::conv2d(x, zeros({2, 4, 7, 3}), Tensor()), ShapeError);  // kernel taller than the input
  EXPECT_THROW(ops::conv2d(x, w, zeros({3})), ShapeError);
  EXPECT_THROW(ops::conv2d(x, w, zeros({2}, DType::Float64)), DTypeError);
  EXPECT_THROW(ops::conv2d(x, zeros({2, 4, 3, 3}, DType::Float64), Tensor()), DTypeError);
  EXPECT_THROW(ops::conv2d(zeros({1, 4, 6, 6}, DType::Int32), zeros({2, 4, 3, 3}, DType::Int32), Tensor()), DTypeError);
  EXPECT_THROW(ops::conv2d(x, w, Tensor(), conv_params({0, 1}, {0, 0}, {1, 1}, 1)), ValueError);
  EXPECT_THROW(ops::conv2d(x, w, Tensor(), conv_params({1, 1}, {-1, 0}, {1, 1}, 1)), ValueError);
  EXPECT_THROW(ops::conv2d(x, w, Tensor(), conv_params({1, 1}, {0, 0}, {1, 1}, 0)), ValueError);
  EXPECT_THROW(ops::conv2d_backward(zeros({1, 2, 3, 3}), x, w, {}), ShapeError);  // grad_out of the wrong size
  EXPECT_THROW(ops::conv2d_backward(zeros({1, 2, 4, 4}, DType::Float64), x, w, {}), DTypeError);
}

// ---- max_pool2d ----

int64_t pool_size_ref(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  const double span = static_cast<double>(d * (k - 1) + 1);
  const double q = (in + 2 * p - span) / static_cast<double>(s);
  int64_t out = static_cast<int64_t>(ceil_mode ? std::ceil(q) : std::floor(q)) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

struct PoolRef {
  Shape shape;
  std::vector<double> out, idx, gx;
};

PoolRef pool_reference(const Tensor& xt, const ops::Pool2dParams& p, const Tensor& got) {
  const auto x = to_host(xt);
  const int64_t planes = xt.size(0) * xt.size(1), H = xt.size(2), W = xt.size(3);
  const int64_t oh = pool_size_ref(H, p.kernel[0], p.stride[0], p.padding[0], p.dilation[0], p.ceil_mode);
  const int64_t ow = pool_size_ref(W, p.kernel[1], p.stride[1], p.padding[1], p.dilation[1], p.ceil_mode);
  PoolRef r;
  r.shape = {xt.size(0), xt.size(1), oh, ow};
  r.gx.assign(x.size(), 0.0);
  const auto go = got.defined() ? to_host(got) : std::vector<double>(planes * oh * ow, 0.0);
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        double best = -std::numeric_limits<double>::infinity();
        int64_t at = -1;
        for (int64_t ki = 0; ki < p.kernel[0]; ++ki)
          for (int64_t kj = 0; kj < p.kernel[1]; ++kj) {
            const int64_t iy = oy * p.stride[0] - p.padding[0] + ki * p.dilation[0];
            const int64_t ix = ox * p.stride[1] - p.padding[1] + kj * p.dilation[1];
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            const double v = x[(pl * H + iy) * W + ix];
            if (at < 0 || v > best || std::isnan(v)) {  // first max wins ties; NaN wins
              best = v;
              at = iy * W + ix;
            }
          }
        r.out.push_back(best);
        r.idx.push_back(static_cast<double>(at));
        if (at >= 0) r.gx[pl * H * W + at] += go[(pl * oh + oy) * ow + ox];
      }
  return r;
}

ops::Pool2dParams pool_params(std::array<int64_t, 2> k, std::array<int64_t, 2> s, std::array<int64_t, 2> pad,
                              std::array<int64_t, 2> d, bool ceil_mode) {
  ops::Pool2dParams p;
  p.kernel = k;
  p.stride = s;
  p.padding = pad;
  p.dilation = d;
  p.ceil_mode = ceil_mode;
  return p;
}

void check_pool(const Tensor& x, const ops::Pool2dParams& p, std::mt19937& rng) {
  SCOPED_TRACE(::testing::Message() << "dtype " << dtype_name(x.dtype()) << " x " << test::shape_str(x.shape())
                                    << " kernel " << p.kernel[0] << "," << p.kernel[1] << " stride " << p.stride[0]
                                    << "," << p.stride[1] << " pad " << p.padding[0] << "," << p.padding[1] << " dil "
                                    << p.dilation[0] << "," << p.dilation[1] << " ceil " << p.ceil_mode);
  const auto res = ops::max_pool2d(x, p);
  const PoolRef fwd = pool_reference(x, p, Tensor());
  EXPECT_TRUE(test::equals(res.out, fwd.shape, fwd.out));
  EXPECT_EQ(res.indices.dtype(), DType::Int64);
  EXPECT_TRUE(test::equals(res.indices, fwd.shape, fwd.idx));
  const Tensor go = test::random_tensor(fwd.shape, x.dtype(), -1, 1, rng);
  const PoolRef r = pool_reference(x, p, go);
  const Tensor gx = ops::max_pool2d_backward(go, x, res.indices, p);
  EXPECT_EQ(gx.dtype(), x.dtype());
  // Overlapping windows add several gradients into one element: rounded once from float32 for 16-bit dtypes.
  EXPECT_TRUE(test::close_to(gx, x.shape(), r.gx, test::default_tol(x.dtype())));
}

TEST(NnMaxPool, WindowsPaddingDilationCeilMode) {
  std::mt19937 rng(31);
  const std::vector<ops::Pool2dParams> params = {
      pool_params({2, 2}, {2, 2}, {0, 0}, {1, 1}, false), pool_params({3, 3}, {2, 2}, {1, 1}, {1, 1}, false),
      pool_params({2, 2}, {2, 2}, {0, 0}, {1, 1}, true),  pool_params({2, 2}, {2, 2}, {1, 1}, {1, 1}, true),
      pool_params({3, 2}, {1, 2}, {1, 0}, {2, 1}, false), pool_params({3, 3}, {2, 3}, {1, 1}, {2, 2}, true),
      pool_params({4, 3}, {3, 2}, {2, 1}, {1, 1}, true),  pool_params({1, 1}, {2, 2}, {0, 0}, {1, 1}, true)};
  for (const auto& p : params)
    for (DType t : {DType::Float32, DType::Float64}) {
      check_pool(test::random_tensor({2, 3, 9, 11}, t, -2, 2, rng), p, rng);
      check_pool(test::random_tensor({1, 2, 5, 8}, t, -2, 2, rng), p, rng);
    }
  // The ceil-mode rule: H = 5, kernel 2, stride 2, padding 1 gives 4 windows by ceil, but the 4th would start in
  // the right padding, so there are 3.
  const auto r = ops::max_pool2d(zeros({1, 1, 5, 5}), pool_params({2, 2}, {2, 2}, {1, 1}, {1, 1}, true));
  EXPECT_EQ(r.out.shape(), (Shape{1, 1, 3, 3}));
}

TEST(NnMaxPool, TiesNaNAndEmptyWindows) {
  std::mt19937 rng(32);
  // Values in {0, 1, 2}: every window has ties; stride 1 overlaps windows, so the backward adds.
  std::vector<double> v = test::random_values(2 * 3 * 7 * 6, DType::Float32, 0, 3, rng);
  for (auto& e : v) e = std::floor(e);
  check_pool(test::make(v, {2, 3, 7, 6}, DType::Float32), pool_params({3, 2}, {1, 1}, {1, 1}, {1, 1}, false), rng);
  // NaN wins its window.
  Tensor x = test::make({1, 5, std::nan(""), 2, 0, 3, 4, 1, 9}, {1, 1, 3, 3}, DType::Float64);
  const auto r = ops::max_pool2d(x, pool_params({2, 2}, {1, 1}, {0, 0}, {1, 1}, false));
  const auto out = to_host(r.out);
  EXPECT_EQ(to_host(r.indices), (std::vector<double>{1, 2, 6, 8}));
  EXPECT_EQ(out[0], 5.0);
  EXPECT_TRUE(std::isnan(out[1]));
  // h = 1, kernel 2, padding 1, dilation 2: the window taps rows -1 and 1, neither inside the input.
  const Tensor x1 = test::random_tensor({1, 2, 1, 4}, DType::Float32, -1, 1, rng);
  const auto p = pool_params({2, 2}, {1, 1}, {1, 0}, {2, 1}, false);
  const auto e = ops::max_pool2d(x1, p);
  EXPECT_TRUE(test::equals(e.indices, {1, 2, 1, 3}, std::vector<double>(6, -1.0)));
  EXPECT_TRUE(test::equals(e.out, {1, 2, 1, 3}, std::vector<double>(6, -std::numeric_limits<double>::infinity())));
  EXPECT_TRUE(test::equals(ops::max_pool2d_backward(ones({1, 2, 1, 3}), x1, e.indices, p), {1, 2, 1, 4},
                           std::vector<double>(8, 0.0)));
}

TEST(NnMaxPool, AllDtypesUnbatchedAndNonContiguous) {
  std::mt19937 rng(33);
  const auto p = pool_params({3, 3}, {2, 2}, {1, 1}, {1, 1}, true);
  for (DType t : test::floating_dtypes()) check_pool(test::random_tensor({2, 2, 8, 9}, t, -2, 2, rng), p, rng);
  check_pool(test::random_tensor({2, 3, 9, 10}, DType::Float32, -2, 2, rng).transpose(2, 3), p, rng);
  const Tensor x3 = test::random_tensor({3, 7, 7}, DType::Float32, -2, 2, rng);
  const auto r3 = ops::max_pool2d(x3, p);
  const auto r4 = ops::max_pool2d(x3.unsqueeze(0), p);
  EXPECT_TRUE(test::equals(r3.out, {3, 4, 4}, to_host(r4.out)));
  EXPECT_TRUE(test::equals(r3.indices, {3, 4, 4}, to_host(r4.indices)));
  const Tensor g3 = ops::max_pool2d_backward(r3.out, x3, r3.indices, p);
  EXPECT_EQ(g3.shape(), (Shape{3, 7, 7}));
}

TEST(NnMaxPool, BadArgumentsRaiseTypedErrors) {
  const Tensor x = zeros({1, 2, 6, 6});
  EXPECT_THROW(ops::max_pool2d(x, pool_params({2, 2}, {2, 2}, {2, 0}, {1, 1}, false)), ValueError);  // pad > k/2
  EXPECT_THROW(ops::max_pool2d(x, pool_params({0, 2}, {2, 2}, {0, 0}, {1, 1}, false)), ValueError);
  EXPECT_THROW(ops::max_pool2d(x, pool_params({2, 2}, {0, 2}, {0, 0}, {1, 1}, false)), ValueError);
  EXPECT_THROW(ops::max_pool2d(x, pool_params({2, 2}, {2, 2}, {0, 0}, {0, 1}, false)), ValueError);
  EXPECT_THROW(ops::max_pool2d(x, pool_params({7, 2}, {2, 2}, {0, 0}, {1, 1}, false)), ShapeError);  // too small
  EXPECT_THROW(ops::max_pool2d(zeros({6, 6}), {}), ShapeError);
  EXPECT_THROW(ops::max_pool2d(zeros({1, 2, 6, 6}, DType::Int64), {}), DTypeError);
  const auto r = ops::max_pool2d(x, {});
  EXPECT_THROW(ops::max_pool2d_backward(zeros({1, 2, 2, 3}), x, r.indices, {}), ShapeError);
  EXPECT_THROW(ops::max_pool2d_backward(r.out, x, r.indices.to(DType::Int32), {}), DTypeError);
  EXPECT_THROW(ops::max_pool2d_backward(r.out.to(DType::Float64), x, r.indices, {}), DTypeError);
  EXPECT_THROW(ops::max_pool2d_backward(r.out, x, full({1, 2, 3, 3}, 36, TensorOptions(DType::Int64)), {}), IndexError);
}

}  // namespace
}  // namespace iccrt
