// softmax / log_softmax, gelu / silu backward, layer_norm and rms_norm (forward and backward) against float64
// references written here: odd sizes, softmax along every dim, non-contiguous views, all floating dtypes, the
// analytic backward formulas checked once against finite differences, and bad inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "iccrt/core/error.hpp"
#include "iccrt/ops/nn.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

using ops::NormGrads;
using ops::NormResult;
using test::bound;
using test::close_to;
using test::eps_of;
using test::floating_dtypes;
using test::random_tensor;
using test::to_host;



// Views of a fresh random tensor with logical shape `shape`: contiguous, a transpose of the last two dims, and
// every other element of a wider tensor.
enum class Layout { Contiguous, Transposed, Strided };
Tensor random_view(const Shape& shape, DType t, Layout layout, double lo, double hi, std::mt19937& rng) {
  if (layout == Layout::Transposed && shape.size() >= 2) {
    Shape s = shape;
    std::swap(s[s.size() - 1], s[s.size() - 2]);
    const int64_t nd = static_cast<int64_t>(s.size());
    return random_tensor(s, t, lo, hi, rng).transpose(nd - 1, nd - 2);
  }
  if (layout == Layout::Strided && !shape.empty()) {
    Shape s = shape;
    s.back() = 2 * s.back();
    return random_tensor(s, t, lo, hi, rng).slice(static_cast<int64_t>(s.size()) - 1, 0, s.back(), 2);
  }
  return random_tensor(shape, t, lo, hi, rng);
}

// ---- softmax ----

struct Split {
  int64_t outer = 1, n = 1, inner = 1;
};
Split split(const Shape& s, int64_t dim) {
  Split r;
  if (s.empty()) return r;
  if (dim < 0) dim += static_cast<int64_t>(s.size());
  r.n = s[dim];
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    if (d < dim) r.outer *= s[d];
    if (d > dim) r.inner *= s[d];
  }
  return r;
}

// Calls f(index of element k of the row) for each row (o, j) of the [outer, n, inner] split.
template <class F>
void for_rows(const Split& sp, F&& f) {
  for (int64_t o = 0; o < sp.outer; ++o)
    for (int64_t j = 0; j < sp.inner; ++j) f([=](int64_t k) { return (o * sp.n + k) * sp.inner + j; });
}

std::vector<double> ref_softmax(const std::vector<double>& x, const Shape& s, int64_t dim, bool log) {
  const Split sp = split(s, dim);
  std::vector<double> y(x.size());
  for_rows(sp, [&](auto at) {
    double m = -INFINITY;
    for (int64_t k = 0; k < sp.n; ++k) m = std::max(m, x[at(k)]);
    double sum = 0;
    for (int64_t k = 0; k < sp.n; ++k) sum += std::exp(x[at(k)] - m);
    for (int64_t k = 0; k < sp.n; ++k) y[at(k)] = log ? (x[at(k)] - m) - std::log(sum) : std::exp(x[at(k)] - m) / sum;
  });
  return y;
}

// The backward with its error bound: softmax gi = y (g - sum g y), log_softmax gi = g - exp(y) sum g.
void ref_softmax_backward(const std::vector<double>& g, const std::vector<double>& y, const Shape& s, int64_t dim,
                          bool log, std::vector<double>& gi, std::vector<double>& scale) {
  const Split sp = split(s, dim);
  gi.assign(g.size(), 0.0);
  scale.assign(g.size(), 0.0);
  for_rows(sp, [&](auto at) {
    double acc = 0, mag = 0;
    for (int64_t k = 0; k < sp.n; ++k) {
      acc += log ? g[at(k)] : g[at(k)] * y[at(k)];
      mag += std::fabs(log ? g[at(k)] : g[at(k)] * y[at(k)]);
    }
    for (int64_t k = 0; k < sp.n; ++k) {
      const size_t i = static_cast<size_t>(at(k));
      if (log) {
        gi[i] = g[i] - std::exp(y[i]) * acc;
        scale[i] = std::fabs(g[i]) + std::exp(y[i]) * (mag + std::fabs(acc) * (1 + std::fabs(y[i])));
      } else {
        gi[i] = y[i] * (g[i] - acc);
        scale[i] = std::fabs(y[i]) * (std::fabs(g[i]) + mag);
      }
    }
  });
}

struct SoftmaxCase {
  Shape shape;
  int64_t dim;
  Layout layout;
};

TEST(NnSoftmax, ForwardAndBackwardMatchReference) {
  const std::vector<SoftmaxCase> cases = {
      {{7, 33}, 1, Layout::Contiguous},   {{7, 1}, -1, Layout::Contiguous},   {{3, 1000}, 1, Layout::Contiguous},
      {{4, 5, 6}, 1, Layout::Contiguous}, {{4, 5, 6}, 0, Layout::Contiguous}, {{2, 3, 17}, -1, Layout::Strided},
      {{7, 33}, 1, Layout::Transposed},   {{33, 7}, 0, Layout::Transposed},   {{5, 300, 9}, 1, Layout::Contiguous},
      {{}, 0, Layout::Contiguous},        {{13}, 0, Layout::Contiguous},      {{2, 50257}, 1, Layout::Contiguous},
      {{3, 7, 40}, 1, Layout::Transposed}};
  std::mt19937 rng(11);
  for (DType t : floating_dtypes()) {
    for (const auto& c : cases) {
      for (bool log : {false, true}) {
        SCOPED_TRACE(::testing::Message() << dtype_name(t) << " shape " << test::shape_str(c.shape) << " dim " << c.dim
                                          << " layout " << static_cast<int>(c.layout) << " log " << log);
        const Tensor x = random_view(c.shape, t, c.layout, -6.0, 6.0, rng);
        const auto xv = to_host(x);
        const Tensor y = log ? ops::log_softmax(x, c.dim) : ops::softmax(x, c.dim);
        EXPECT_EQ(y.dtype(), t);
        const auto ref = ref_softmax(xv, c.shape, c.dim, log);
        // softmax: relative error ~ (2 + |x - max|) eps with |x - max| <= |log y|; log_softmax: |y| = |x - max| +
        // log(sum), the two terms it is computed from.
        std::vector<double> scale(ref.size());
        for (size_t i = 0; i < ref.size(); ++i) {
          const double r = std::fabs(ref[i]);
          scale[i] = log ? r + 1.0 : (r > 0 ? r * (2.0 + std::fabs(std::log(r))) : 0.0);
        }
        EXPECT_TRUE(close_to(y, c.shape, ref, {0.0, 0.0}, bound(t, scale)));

        const Tensor g = random_view(c.shape, t, c.layout, -1.0, 1.0, rng);
        const Tensor gi = log ? ops::log_softmax_backward(g, y, c.dim) : ops::softmax_backward(g, y, c.dim);
        std::vector<double> gref, gscale;
        ref_softmax_backward(to_host(g), to_host(y), c.shape, c.dim, log, gref, gscale);
        EXPECT_TRUE(close_to(gi, c.shape, gref, {0.0, 0.0}, bound(t, gscale)));
      }
    }
  }
}

TEST(NnSoftmax, LargeAndInfiniteLogitsAreStable) {
  // Rows far from 0 (exp would overflow without the max subtracted) and a masked (-inf) entry.
  const std::vector<double> v = {10000.0, 10001.0, 10002.0, -INFINITY, -5000.0, -5001.0, -5002.0, -INFINITY};
  for (DType t : {DType::Float32, DType::Float64}) {
    const Tensor x = from_vector(v, {2, 4}, TensorOptions(t));
    const auto ref = ref_softmax(v, {2, 4}, 1, false);
    EXPECT_TRUE(close_to(ops::softmax(x, 1), {2, 4}, ref, {1e-6, 1e-30}));
    const auto lref = ref_softmax(v, {2, 4}, 1, true);
    EXPECT_TRUE(close_to(ops::log_softmax(x, 1), {2, 4}, lref, {1e-6, 1e-6}));
  }
}

// Finite differences of the float64 reference (central, h = 1e-6) for L = sum(w * f(x)).
std::vector<double> numeric_grad(const std::function<double(const std::vector<double>&)>& loss, std::vector<double> x) {
  std::vector<double> g(x.size());
  const double h = 1e-6;
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const double lp = loss(x);
    x[i] = x0 - h;
    const double lm = loss(x);
    x[i] = x0;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

double weighted(const std::vector<double>& w, const std::vector<double>& y) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += w[i] * y[i];
  return s;
}

TEST(NnSoftmax, BackwardMatchesFiniteDifferences) {
  std::mt19937 rng(5);
  const Shape s = {3, 4, 5};
  for (bool log : {false, true}) {
    std::vector<double> xv, wv;
    const Tensor x = random_tensor(s, DType::Float64, -2, 2, rng, &xv);
    const Tensor w = random_tensor(s, DType::Float64, -1, 1, rng, &wv);
    const Tensor y = log ? ops::log_softmax(x, 1) : ops::softmax(x, 1);
    const Tensor gi = log ? ops::log_softmax_backward(w, y, 1) : ops::softmax_backward(w, y, 1);
    const auto num =
        numeric_grad([&](const std::vector<double>& v) { return weighted(wv, ref_softmax(v, s, 1, log)); }, xv);
    EXPECT_TRUE(close_to(gi, s, num, {1e-6, 1e-8}));
  }
}

TEST(NnSoftmax, BadInputs) {
  const Tensor x = ones({2, 3});
  EXPECT_THROW(ops::softmax(x, 2), IndexError);
  EXPECT_THROW(ops::softmax(ones({2, 3}, DType::Int64), 1), DTypeError);
  EXPECT_THROW(ops::softmax_backward(ones({2, 4}), x, 1), ShapeError);
  EXPECT_THROW(ops::softmax_backward(ones({2, 3}, DType::Float64), x, 1), DTypeError);
  EXPECT_THROW(ops::log_softmax(Tensor(), 0), Error);
  EXPECT_EQ(ops::softmax(ones({0, 3}), 1).shape(), (Shape{0, 3}));
}

// ---- gelu / silu backward ----

double ref_act_grad(const std::string& kind, double x) {
  if (kind == "silu") {
    const double s = 1 / (1 + std::exp(-x));
    return s * (1 + x * (1 - s));
  }
  if (kind == "tanh") {
    const double k = std::sqrt(2 / M_PI), u = k * (x + 0.044715 * x * x * x), t = std::tanh(u);
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
  }
  return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-x * x / 2) / std::sqrt(2 * M_PI);
}

double ref_act(const std::string& kind, double x) {
  if (kind == "silu") return x / (1 + std::exp(-x));
  if (kind == "tanh") return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
}

TEST(NnActivation, GeluSiluBackwardMatchReference) {
  std::mt19937 rng(3);
  const std::vector<Shape> shapes = {{7, 33}, {1}, {1000}, {5, 1, 3}};
  for (DType t : floating_dtypes()) {
    for (const std::string kind : {"none", "tanh", "silu"}) {
      for (const Shape& s : shapes) {
        for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Strided}) {
          SCOPED_TRACE(::testing::Message() << dtype_name(t) << " " << kind << " " << test::shape_str(s));
          const Tensor x = random_view(s, t, layout, -8, 8, rng);
          const Tensor g = random_view(s, t, Layout::Contiguous, -2, 2, rng);
          const Tensor gi = kind == "silu" ? ops::silu_backward(g, x) : ops::gelu_backward(g, x, kind);
          const auto xv = to_host(x), gv = to_host(g);
          std::vector<double> ref(xv.size()), scale(xv.size());
          for (size_t i = 0; i < xv.size(); ++i) {
            ref[i] = gv[i] * ref_act_grad(kind, xv[i]);
            // d act / dx is O(1) with slope O(|x|) where it turns, so an ulp of x moves it by ~|x| ulp.
            scale[i] = std::fabs(gv[i]) * (1.0 + std::fabs(xv[i]) * std::fabs(xv[i]));
          }
          EXPECT_TRUE(close_to(gi, s, ref, {0.0, 0.0}, bound(t, scale)));
        }
      }
    }
  }
}

TEST(NnActivation, BackwardFormulasMatchFiniteDifferences) {
  for (const std::string kind : {"none", "tanh", "silu"}) {
    for (double x = -7.5; x <= 7.5; x += 0.37) {
      const double h = 1e-6;
      const double num = (ref_act(kind, x + h) - ref_act(kind, x - h)) / (2 * h);
      const Tensor xt = from_vector({x}, {1}, TensorOptions(DType::Float64));
      const Tensor g = ones({1}, DType::Float64);
      const Tensor gi = kind == "silu" ? ops::silu_backward(g, xt) : ops::gelu_backward(g, xt, kind);
      EXPECT_NEAR(gi.get({0}), num, 1e-7) << kind << " at " << x;
    }
  }
}

TEST(NnActivation, BadInputs) {
  EXPECT_THROW(ops::gelu_backward(ones({3}), ones({3}), "fast"), ValueError);
  EXPECT_THROW(ops::silu_backward(ones({3}), ones({4})), ShapeError);
  EXPECT_THROW(ops::silu_backward(ones({3}, DType::Float64), ones({3})), DTypeError);
  EXPECT_THROW(ops::gelu_backward(ones({3}, DType::Int32), ones({3}, DType::Int32)), DTypeError);
}

// ---- layer_norm / rms_norm ----

struct NormRef {
  std::vector<double> y, mean, rstd, y_scale;
};

// y (and the size of its rounding error) from given row statistics.
void apply_norm(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& b, int64_t rows,
                int64_t cols, NormRef& r) {
  r.y.resize(x.size());
  r.y_scale.resize(x.size());
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const double wj = w.empty() ? 1.0 : w[j], bj = b.empty() ? 0.0 : b[j];
      const size_t k = static_cast<size_t>(i * cols + j);
      r.y[k] = (x[k] - r.mean[i]) * r.rstd[i] * wj + bj;
      r.y_scale[k] = (std::fabs(x[k]) + std::fabs(r.mean[i])) * r.rstd[i] * std::fabs(wj) + std::fabs(bj);
    }
  }
}

NormRef ref_norm(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& b, int64_t rows,
                 int64_t cols, double eps, bool rms) {
  NormRef r;
  for (int64_t i = 0; i < rows; ++i) {
    const double* xr = &x[static_cast<size_t>(i * cols)];
    double mu = 0, var = 0;
    if (!rms) {
      for (int64_t j = 0; j < cols; ++j) mu += xr[j];
      mu /= static_cast<double>(cols);
    }
    for (int64_t j = 0; j < cols; ++j) var += (xr[j] - mu) * (xr[j] - mu);
    var /= static_cast<double>(cols);
    r.mean.push_back(mu);
    r.rstd.push_back(1 / std::sqrt(var + eps));
  }
  apply_norm(x, w, b, rows, cols, r);
  return r;
}

struct NormGradRef {
  std::vector<double> gx, gw, gb, gx_scale, gw_scale;
};

NormGradRef ref_norm_backward(const std::vector<double>& g, const std::vector<double>& x, const std::vector<double>& w,
                              const NormRef& f, int64_t rows, int64_t cols, bool rms) {
  NormGradRef r;
  r.gx.resize(x.size());
  r.gx_scale.resize(x.size());
  r.gw.assign(static_cast<size_t>(cols), 0.0);
  r.gb.assign(static_cast<size_t>(cols), 0.0);
  r.gw_scale.assign(static_cast<size_t>(cols), 0.0);
  for (int64_t i = 0; i < rows; ++i) {
    const size_t n = static_cast<size_t>(cols);
    // xs: the size of xhat's rounding error in units of eps ((x - mean) * rstd from rounded operands).
    std::vector<double> xhat(n), xs(n), gw(n);
    double a = 0, c = 0, mag_a = 0, mag_c = 0;
    for (int64_t j = 0; j < cols; ++j) {
      const size_t k = static_cast<size_t>(i * cols + j);
      xhat[j] = (x[k] - f.mean[i]) * f.rstd[i];
      xs[j] = (std::fabs(x[k]) + std::fabs(f.mean[i])) * f.rstd[i];
      gw[j] = g[k] * (w.empty() ? 1.0 : w[j]);
      a += gw[j];
      c += gw[j] * xhat[j];
      mag_a += std::fabs(gw[j]);
      mag_c += std::fabs(gw[j]) * (xs[j] + std::fabs(xhat[j]));
      r.gw[j] += g[k] * xhat[j];
      r.gb[j] += g[k];
      r.gw_scale[j] += std::fabs(g[k]) * (xs[j] + std::fabs(xhat[j]));
    }
    a /= static_cast<double>(cols);
    c /= static_cast<double>(cols);
    mag_a /= static_cast<double>(cols);
    mag_c /= static_cast<double>(cols);
    for (int64_t j = 0; j < cols; ++j) {
      const size_t k = static_cast<size_t>(i * cols + j);
      r.gx[k] = f.rstd[i] * (gw[j] - (rms ? 0.0 : a) - xhat[j] * c);
      r.gx_scale[k] = f.rstd[i] * (std::fabs(gw[j]) + mag_a + (xs[j] + std::fabs(xhat[j])) * (std::fabs(c) + mag_c));
    }
  }
  return r;
}

struct NormCase {
  Shape shape;
  Shape ns;
  Layout layout;
};

TEST(NnNorm, LayerAndRmsNormMatchReference) {
  const std::vector<NormCase> cases = {
      {{7, 33}, {33}, Layout::Contiguous},     {{7, 1}, {1}, Layout::Contiguous},
      {{3, 1000}, {1000}, Layout::Contiguous}, {{2, 3, 4, 5}, {4, 5}, Layout::Contiguous},
      {{9, 17}, {17}, Layout::Transposed},     {{5, 24}, {24}, Layout::Strided},
      {{40}, {40}, Layout::Contiguous},        {{300, 64}, {64}, Layout::Contiguous}};
  std::mt19937 rng(7);
  for (DType t : floating_dtypes()) {
    for (const auto& c : cases) {
      for (bool rms : {false, true}) {
        for (int params = 0; params < 3; ++params) {  // none, weight, weight + bias
          SCOPED_TRACE(::testing::Message() << dtype_name(t) << " shape " << test::shape_str(c.shape) << " rms " << rms
                                            << " params " << params);
          const int64_t cols = test::numel_of(c.ns), rows = test::numel_of(c.shape) / cols;
          Shape stat_shape(c.shape.begin(), c.shape.end() - static_cast<int64_t>(c.ns.size()));
          // An offset far from 0 checks the two-pass variance.
          const Tensor x = random_view(c.shape, t, c.layout, 3.0, 7.0, rng);
          std::vector<double> wv, bv;
          Tensor w, b;
          if (params >= 1) w = random_tensor(c.ns, t, 0.5, 1.5, rng, &wv);
          if (params >= 2 && !rms) b = random_tensor(c.ns, t, -1, 1, rng, &bv);
          const double eps = 1e-5;
          const NormResult out = rms ? ops::rms_norm(x, c.ns, w, eps) : ops::layer_norm(x, c.ns, w, b, eps);
          const auto xv = to_host(x);
          const NormRef ref = ref_norm(xv, wv, bv, rows, cols, eps, rms);
          const DType sd = t == DType::Float64 ? DType::Float64 : DType::Float32;
          EXPECT_EQ(out.rstd.dtype(), sd);
          const double stat_eps = sd == DType::Float64 ? 1e-12 : 1e-6;
          EXPECT_TRUE(close_to(out.rstd, stat_shape, ref.rstd, {stat_eps, 0.0}));
          if (rms) {
            EXPECT_FALSE(out.mean.defined());
          } else {
            EXPECT_TRUE(close_to(out.mean, stat_shape, ref.mean, {stat_eps, 0.0}));
          }

          // y against the statistics the op saved (checked against the reference just above), so that the
          // bound need not carry the summation error of long float64 rows.
          NormRef saved = ref;
          saved.rstd = to_host(out.rstd);
          saved.mean = rms ? std::vector<double>(static_cast<size_t>(rows), 0.0) : to_host(out.mean);
          apply_norm(xv, wv, bv, rows, cols, saved);
          EXPECT_TRUE(close_to(out.out, c.shape, saved.y, {0.0, 0.0}, bound(t, saved.y_scale, 16)));

          const Tensor g = random_view(c.shape, t, Layout::Contiguous, -1, 1, rng);
          const auto gv = to_host(g);
          const NormGrads gr = rms ? ops::rms_norm_backward(g, x, c.ns, out.rstd, w)
                                   : ops::layer_norm_backward(g, x, c.ns, out.mean, out.rstd, w, b);
          // The backward reference also uses the saved statistics, as the op does.
          const NormGradRef gref = ref_norm_backward(gv, xv, wv, saved, rows, cols, rms);
          EXPECT_TRUE(close_to(gr.grad_input, c.shape, gref.gx, {0.0, 0.0}, bound(t, gref.gx_scale, 16)));
          EXPECT_EQ(gr.grad_weight.defined(), w.defined());
          EXPECT_EQ(gr.grad_bias.defined(), b.defined());
          if (w.defined()) {
            EXPECT_EQ(gr.grad_weight.dtype(), t);
            EXPECT_TRUE(close_to(gr.grad_weight, c.ns, gref.gw, {0.0, 0.0}, bound(t, gref.gw_scale, 16)));
          }
          if (b.defined()) {
            std::vector<double> bscale(gref.gb.size(), static_cast<double>(rows));
            EXPECT_TRUE(close_to(gr.grad_bias, c.ns, gref.gb, {0.0, 0.0}, bound(t, bscale, 16)));
          }
        }
      }
    }
  }
}

TEST(NnNorm, NeedSelectsGradients) {
  std::mt19937 rng(8);
  const Tensor x = random_tensor({4, 6}, DType::Float32, -1, 1, rng);
  const Tensor w = random_tensor({6}, DType::Float32, -1, 1, rng), b = random_tensor({6}, DType::Float32, -1, 1, rng);
  const NormResult f = ops::layer_norm(x, {6}, w, b);
  const Tensor g = random_tensor({4, 6}, DType::Float32, -1, 1, rng);
  const NormGrads all = ops::layer_norm_backward(g, x, {6}, f.mean, f.rstd, w, b);
  const NormGrads only_w = ops::layer_norm_backward(g, x, {6}, f.mean, f.rstd, w, b, {false, true, false});
  EXPECT_FALSE(only_w.grad_input.defined());
  EXPECT_FALSE(only_w.grad_bias.defined());
  EXPECT_TRUE(test::equals(only_w.grad_weight, {6}, to_host(all.grad_weight)));
  const NormGrads only_x = ops::layer_norm_backward(g, x, {6}, f.mean, f.rstd, w, b, {true, false, false});
  EXPECT_TRUE(test::equals(only_x.grad_input, {4, 6}, to_host(all.grad_input)));
  EXPECT_FALSE(only_x.grad_weight.defined());
}

TEST(NnNorm, BackwardMatchesFiniteDifferences) {
  std::mt19937 rng(9);
  const int64_t rows = 3, cols = 5;
  for (bool rms : {false, true}) {
    std::vector<double> xv, wv, bv, gv;
    const Tensor x = random_tensor({rows, cols}, DType::Float64, -2, 2, rng, &xv);
    const Tensor w = random_tensor({cols}, DType::Float64, 0.5, 1.5, rng, &wv);
    const Tensor b = rms ? Tensor() : random_tensor({cols}, DType::Float64, -1, 1, rng, &bv);
    const Tensor g = random_tensor({rows, cols}, DType::Float64, -1, 1, rng, &gv);
    const double eps = 1e-3;
    const NormResult f = rms ? ops::rms_norm(x, {cols}, w, eps) : ops::layer_norm(x, {cols}, w, b, eps);
    const NormGrads gr = rms ? ops::rms_norm_backward(g, x, {cols}, f.rstd, w)
                             : ops::layer_norm_backward(g, x, {cols}, f.mean, f.rstd, w, b);
    auto loss = [&](const std::vector<double>& xs, const std::vector<double>& ws, const std::vector<double>& bs) {
      return weighted(gv, ref_norm(xs, ws, bs, rows, cols, eps, rms).y);
    };
    EXPECT_TRUE(close_to(gr.grad_input, {rows, cols},
                         numeric_grad([&](const std::vector<double>& v) { return loss(v, wv, bv); }, xv),
                         {1e-6, 1e-8}));
    EXPECT_TRUE(close_to(gr.grad_weight, {cols},
                         numeric_grad([&](const std::vector<double>& v) { return loss(xv, v, bv); }, wv),
                         {1e-6, 1e-8}));
    if (!rms) {
      EXPECT_TRUE(close_to(gr.grad_bias, {cols},
                           numeric_grad([&](const std::vector<double>& v) { return loss(xv, wv, v); }, bv),
                           {1e-6, 1e-8}));
    }
  }
}

TEST(NnNorm, BadInputs) {
  const Tensor x = ones({4, 6});
  EXPECT_THROW(ops::layer_norm(x, {5}, Tensor(), Tensor()), ShapeError);
  EXPECT_THROW(ops::layer_norm(x, {4, 6, 1}, Tensor(), Tensor()), ShapeError);
  EXPECT_THROW(ops::layer_norm(x, {}, Tensor(), Tensor()), ValueError);
  EXPECT_THROW(ops::layer_norm(x, {6}, ones({5}), Tensor()), ShapeError);
  EXPECT_THROW(ops::layer_norm(x, {6}, ones({6}, DType::Float64), Tensor()), DTypeError);
  EXPECT_THROW(ops::rms_norm(ones({4, 6}, DType::Int32), {6}, Tensor()), DTypeError);
  const NormResult f = ops::layer_norm(x, {6}, Tensor(), Tensor());
  EXPECT_THROW(ops::layer_norm_backward(ones({4, 5}), x, {6}, f.mean, f.rstd, Tensor(), Tensor()), ShapeError);
  EXPECT_THROW(ops::layer_norm_backward(ones({4, 6}), x, {6}, f.mean, ones({3}), Tensor(), Tensor()), ShapeError);
  EXPECT_THROW(ops::rms_norm_backward(ones({4, 6}), x, {6}, ones({4}, DType::Float64), Tensor()), DTypeError);
}

}  // namespace
}  // namespace iccrt
