// The model ops (include/iccrt/ops/nn.hpp) on CUDA tensors against the same ops on CPU tensors, which
// tests/cpp/test_nn_*.cpp check against float64 references. Same input values on both devices; every output
// (values, saved statistics, gradients, indices) compared element by element with per-dtype tolerances that
// allow for a different summation order. Shapes are odd and cover each kernel's launch shapes (32, 256 and
// 512-thread row groups, the column layout of softmax, partial attention tiles, causal masks with tq != tk), and
// inputs include non-contiguous views. Compiled only in CUDA builds; every test skips visibly without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "iccrt/core/device.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/core/tensor.hpp"
#include "iccrt/ops/nn.hpp"
#include "src/core/cuda_runtime.hpp"
#include "tests/cpp/test_util.hpp"

#define ICCRT_SKIP_WITHOUT_GPU() \
  if (iccrt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: CUDA model-op tests need a GPU"

namespace iccrt::test {
namespace {

const Device kGpu = cuda_device(0);

Tensor gpu(const Tensor& t) { return t.defined() ? t.to(kGpu) : t; }

// CUDA against CPU: the CPU result is itself a rounded value, so the tolerance covers both roundings plus a
// different accumulation order (a few ulps of the dtype, more for long sums in 16-bit types).
Tol cross_tol(DType t) {
  switch (t) {
    case DType::Float64:
      return {1e-10, 1e-12};
    case DType::Float32:
      return {2e-4, 2e-5};
    case DType::Float16:
      return {4e-3, 2e-3};
    case DType::BFloat16:
      return {3e-2, 2e-2};
    default:
      return {0.0, 0.0};
  }
}
Tol scaled(Tol t, double k) { return {t.rtol * k, t.atol * k}; }
const Tol kExact{0.0, 0.0};
// The dtype of saved statistics for data of dtype t (float64 stays float64, the rest are float32).
DType stat_of(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }

::testing::AssertionResult matches(const Tensor& on_gpu, const Tensor& on_cpu, Tol tol) {
  if (!on_gpu.defined() || !on_cpu.defined()) {
    if (on_gpu.defined() == on_cpu.defined()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "one result is undefined";
  }
  if (!on_gpu.device().is_cuda()) return ::testing::AssertionFailure() << "result is on " << on_gpu.device().str();
  if (on_gpu.dtype() != on_cpu.dtype())
    return ::testing::AssertionFailure() << "dtype " << dtype_name(on_gpu.dtype()) << ", CPU gives "
                                         << dtype_name(on_cpu.dtype());
  return close_to(on_gpu.to(kCPU), on_cpu.shape(), to_host(on_cpu), tol);
}

#define EXPECT_MATCH(g, c, tol) EXPECT_TRUE(matches((g), (c), (tol))) << #g

Tensor rnd(const Shape& s, DType t, std::mt19937& rng, double lo = -2.0, double hi = 2.0) {
  return random_tensor(s, t, lo, hi, rng);
}

Tensor ints(const Shape& s, int64_t lo, int64_t hi, std::mt19937& rng, DType t = DType::Int64) {
  return make(random_values(numel_of(s), t, static_cast<double>(lo), static_cast<double>(hi), rng), s, t);
}

// ---- softmax / log_softmax ---------------------------------------------------------------------------------

TEST(CudaNn, SoftmaxAndLogSoftmax) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(11);
  struct Case {
    Shape shape;
    int64_t dim;
  };
  // rows of 33 (a warp per row), 1500 (256 threads), 9000 (512 threads); inner > 1 with few columns (row
  // layout, strided) and with many (column layout); a leading size-1 dim.
  const std::vector<Case> cases = {{{7, 33}, -1},     {{5, 1500}, 1},     {{3, 9000}, -1},   {{4, 37, 6}, 1},
                                   {{2, 50, 700}, 1}, {{96, 20, 400}, 1}, {{1, 5, 3, 2}, 0}, {{6, 1}, 1}};
  for (DType t : floating_dtypes()) {
    for (const Case& c : cases) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " " + shape_str(c.shape) + " dim " + std::to_string(c.dim));
      const Tensor x = rnd(c.shape, t, rng, -4.0, 4.0), g = rnd(c.shape, t, rng);
      const Tensor xg = gpu(x), gg = gpu(g);
      const Tensor y = ops::softmax(x, c.dim), ly = ops::log_softmax(x, c.dim);
      const Tensor yg = ops::softmax(xg, c.dim), lyg = ops::log_softmax(xg, c.dim);
      EXPECT_MATCH(yg, y, cross_tol(t));
      EXPECT_MATCH(lyg, ly, cross_tol(t));
      EXPECT_MATCH(ops::softmax_backward(gg, gpu(y), c.dim), ops::softmax_backward(g, y, c.dim), cross_tol(t));
      EXPECT_MATCH(ops::log_softmax_backward(gg, gpu(ly), c.dim), ops::log_softmax_backward(g, ly, c.dim),
                   scaled(cross_tol(t), 4));
    }
  }
}

TEST(CudaNn, SoftmaxOfTransposedViewAndInfinities) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(12);
  const Tensor base = rnd({40, 9}, DType::Float32, rng);
  EXPECT_MATCH(ops::softmax(gpu(base).t(), 1), ops::softmax(base.t(), 1), cross_tol(DType::Float32));
  // -inf entries get probability 0; a row that is all -inf is NaN on both devices.
  const double inf = INFINITY;
  const Tensor x = make({1.0, -inf, 2.0, -inf, -inf, -inf}, {2, 3}, DType::Float32);
  EXPECT_MATCH(ops::softmax(gpu(x), 1), ops::softmax(x, 1), cross_tol(DType::Float32));
  EXPECT_MATCH(ops::log_softmax(gpu(x), 1), ops::log_softmax(x, 1), cross_tol(DType::Float32));
}

// ---- activation backward -----------------------------------------------------------------------------------

TEST(CudaNn, ActivationBackward) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(13);
  for (DType t : floating_dtypes()) {
    SCOPED_TRACE(dtype_name(t));
    const Tensor x = rnd({31, 17}, t, rng, -6.0, 6.0), gbase = rnd({17, 31}, t, rng);
    const Tensor g = gbase.t();  // non-contiguous grad
    const Tensor xg = gpu(x), gg = gpu(gbase).t();
    EXPECT_MATCH(ops::gelu_backward(gg, xg, "none"), ops::gelu_backward(g, x, "none"), cross_tol(t));
    EXPECT_MATCH(ops::gelu_backward(gg, xg, "tanh"), ops::gelu_backward(g, x, "tanh"), cross_tol(t));
    EXPECT_MATCH(ops::silu_backward(gg, xg), ops::silu_backward(g, x), cross_tol(t));
  }
}

// ---- layer_norm / rms_norm ---------------------------------------------------------------------------------

TEST(CudaNn, LayerNormForwardBackward) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(14);
  const std::vector<Shape> shapes = {{9, 37}, {3, 5, 1500}, {2, 10000}, {1, 1}};
  for (DType t : floating_dtypes()) {
    for (const Shape& s : shapes) {
      for (bool affine : {true, false}) {
        SCOPED_TRACE(std::string(dtype_name(t)) + " " + shape_str(s) + (affine ? " affine" : " plain"));
        const Shape ns = {s.back()};
        const Tensor x = rnd(s, t, rng, -3.0, 5.0), g = rnd(s, t, rng);
        const Tensor w = affine ? rnd(ns, t, rng, 0.5, 1.5) : Tensor();
        const Tensor b = affine ? rnd(ns, t, rng) : Tensor();
        const auto c = ops::layer_norm(x, ns, w, b, 1e-5);
        const auto r = ops::layer_norm(gpu(x), ns, gpu(w), gpu(b), 1e-5);
        EXPECT_MATCH(r.out, c.out, cross_tol(t));
        EXPECT_MATCH(r.mean, c.mean, cross_tol(stat_of(t)));
        EXPECT_MATCH(r.rstd, c.rstd, cross_tol(stat_of(t)));
        const auto cg = ops::layer_norm_backward(g, x, ns, c.mean, c.rstd, w, b);
        const auto rg = ops::layer_norm_backward(gpu(g), gpu(x), ns, r.mean, r.rstd, gpu(w), gpu(b));
        EXPECT_MATCH(rg.grad_input, cg.grad_input, scaled(cross_tol(t), 4));
        EXPECT_MATCH(rg.grad_weight, cg.grad_weight, scaled(cross_tol(t), 8));
        EXPECT_MATCH(rg.grad_bias, cg.grad_bias, scaled(cross_tol(t), 8));
      }
    }
  }
}

TEST(CudaNn, RmsNormForwardBackward) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(15);
  const std::vector<Shape> shapes = {{9, 37}, {4, 3000}, {2, 12000}};
  for (DType t : floating_dtypes()) {
    for (const Shape& s : shapes) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " " + shape_str(s));
      const Shape ns = {s.back()};
      const Tensor x = rnd(s, t, rng), g = rnd(s, t, rng), w = rnd(ns, t, rng, 0.5, 1.5);
      const auto c = ops::rms_norm(x, ns, w, 1e-6);
      const auto r = ops::rms_norm(gpu(x), ns, gpu(w), 1e-6);
      EXPECT_MATCH(r.out, c.out, cross_tol(t));
      EXPECT_FALSE(r.mean.defined());
      EXPECT_MATCH(r.rstd, c.rstd, cross_tol(stat_of(t)));
      const auto cg = ops::rms_norm_backward(g, x, ns, c.rstd, w);
      const auto rg = ops::rms_norm_backward(gpu(g), gpu(x), ns, r.rstd, gpu(w));
      EXPECT_MATCH(rg.grad_input, cg.grad_input, scaled(cross_tol(t), 4));
      EXPECT_MATCH(rg.grad_weight, cg.grad_weight, scaled(cross_tol(t), 8));
    }
  }
}

// ---- embedding ---------------------------------------------------------------------------------------------

TEST(CudaNn, EmbeddingForwardBackward) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(16);
  for (DType t : floating_dtypes()) {
    for (DType it : {DType::Int64, DType::Int32}) {
      for (int64_t dim : {int64_t{5}, int64_t{300}}) {
        SCOPED_TRACE(std::string(dtype_name(t)) + " " + dtype_name(it) + " dim " + std::to_string(dim));
        const int64_t num = 11;
        const Tensor w = rnd({num, dim}, t, rng);
        const Tensor idx = ints({6, 7}, 0, num - 1, rng, it);  // 42 lookups of 11 rows: many repeats
        EXPECT_MATCH(ops::embedding(gpu(w), gpu(idx)), ops::embedding(w, idx), kExact);  // a copy
        const Tensor g = rnd({6, 7, dim}, t, rng);
        for (int64_t pad : {int64_t{-1}, int64_t{3}}) {
          EXPECT_MATCH(ops::embedding_backward(gpu(g), gpu(idx), num, pad), ops::embedding_backward(g, idx, num, pad),
                       scaled(cross_tol(t), 4));
        }
      }
    }
  }
}

TEST(CudaNn, EmbeddingIndexOutOfRangeRaises) {
  ICCRT_SKIP_WITHOUT_GPU();
  const Tensor w = gpu(make({1, 2, 3, 4, 5, 6}, {3, 2}, DType::Float32));
  EXPECT_THROW(ops::embedding(w, gpu(make({0, 3}, {2}, DType::Int64))), IndexError);
  EXPECT_THROW(ops::embedding(w, gpu(make({-1}, {1}, DType::Int64))), IndexError);
}

// ---- cross-entropy -----------------------------------------------------------------------------------------

TEST(CudaNn, CrossEntropyForwardBackward) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(17);
  for (DType t : floating_dtypes()) {
    for (int64_t c : {int64_t{10}, int64_t{3000}, int64_t{20000}}) {
      for (double ls : {0.0, 0.1}) {
        for (const char* red : {"mean", "sum", "none"}) {
          SCOPED_TRACE(std::string(dtype_name(t)) + " classes " + std::to_string(c) + " ls " + std::to_string(ls) +
                       " " + red);
          const int64_t n = 9;
          const Tensor logits = rnd({n, c}, t, rng, -5.0, 5.0);
          std::vector<double> tv = random_values(n, DType::Int64, 0, static_cast<double>(c - 1), rng);
          tv[2] = tv[7] = -100;  // ignored rows
          const Tensor target = make(tv, {n}, DType::Int64);
          const auto cr = ops::cross_entropy(logits, target, -100, ls, red);
          const auto gr = ops::cross_entropy(gpu(logits), gpu(target), -100, ls, red);
          EXPECT_MATCH(gr.loss, cr.loss, scaled(cross_tol(t), 4));
          EXPECT_MATCH(gr.lse, cr.lse, cross_tol(stat_of(t)));
          const Tensor gl = std::string(red) == "none" ? rnd({n}, t, rng) : make({1.5}, {}, t);
          EXPECT_MATCH(ops::cross_entropy_backward(gpu(gl), gpu(logits), gpu(target), gr.lse, -100, ls, red),
                       ops::cross_entropy_backward(gl, logits, target, cr.lse, -100, ls, red), cross_tol(t));
        }
      }
    }
  }
}

// ---- attention ---------------------------------------------------------------------------------------------

TEST(CudaNn, AttentionForwardBackward) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(18);
  struct Case {
    int64_t tq, tk, d, dv;
  };
  // Partial tiles, tq != tk (causal rows that see nothing when tq > tk), head dims below and above 64 and up to
  // 128, d != dv.
  const std::vector<Case> cases = {{1, 1, 8, 8},      {17, 17, 33, 20},   {64, 100, 64, 64},
                                   {100, 37, 16, 80}, {70, 70, 128, 128}, {5, 130, 96, 7}};
  for (DType t : floating_dtypes()) {
    for (const Case& c : cases) {
      for (bool causal : {false, true}) {
        SCOPED_TRACE(std::string(dtype_name(t)) + " tq " + std::to_string(c.tq) + " tk " + std::to_string(c.tk) +
                     " d " + std::to_string(c.d) + " dv " + std::to_string(c.dv) + (causal ? " causal" : ""));
        const Tensor q = rnd({2, 3, c.tq, c.d}, t, rng), k = rnd({2, 3, c.tk, c.d}, t, rng);
        const Tensor v = rnd({2, 3, c.tk, c.dv}, t, rng), go = rnd({2, 3, c.tq, c.dv}, t, rng);
        const auto cr = ops::scaled_dot_product_attention(q, k, v, causal);
        const auto gr = ops::scaled_dot_product_attention(gpu(q), gpu(k), gpu(v), causal);
        EXPECT_MATCH(gr.out, cr.out, scaled(cross_tol(t), 2));
        EXPECT_MATCH(gr.lse, cr.lse, cross_tol(stat_of(t)));
        const auto cg = ops::scaled_dot_product_attention_backward(go, q, k, v, cr.out, cr.lse, causal);
        const auto gg =
            ops::scaled_dot_product_attention_backward(gpu(go), gpu(q), gpu(k), gpu(v), gr.out, gr.lse, causal);
        EXPECT_MATCH(gg.grad_q, cg.grad_q, scaled(cross_tol(t), 8));
        EXPECT_MATCH(gg.grad_k, cg.grad_k, scaled(cross_tol(t), 8));
        EXPECT_MATCH(gg.grad_v, cg.grad_v, scaled(cross_tol(t), 8));
      }
    }
  }
}

TEST(CudaNn, AttentionOfViewsAndExplicitScale) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(19);
  // [B, T, H, D] storage viewed as [B, H, T, D], as multi-head attention does.
  const Tensor q = rnd({2, 45, 3, 24}, DType::Float32, rng), k = rnd({2, 51, 3, 24}, DType::Float32, rng);
  const Tensor v = rnd({2, 51, 3, 24}, DType::Float32, rng);
  auto heads = [](const Tensor& x) { return x.transpose(1, 2); };
  const auto cr = ops::scaled_dot_product_attention(heads(q), heads(k), heads(v), true, 0.3);
  const auto gr = ops::scaled_dot_product_attention(heads(gpu(q)), heads(gpu(k)), heads(gpu(v)), true, 0.3);
  EXPECT_MATCH(gr.out, cr.out, scaled(cross_tol(DType::Float32), 2));
  EXPECT_MATCH(gr.lse, cr.lse, cross_tol(DType::Float32));
}

TEST(CudaNn, AttentionHeadDimAbove128Raises) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(20);
  const Tensor q = gpu(rnd({1, 4, 129}, DType::Float32, rng)), v = gpu(rnd({1, 4, 8}, DType::Float32, rng));
  EXPECT_THROW(ops::scaled_dot_product_attention(q, q, v), ValueError);
  const Tensor q8 = gpu(rnd({1, 4, 8}, DType::Float32, rng)), v200 = gpu(rnd({1, 4, 200}, DType::Float32, rng));
  EXPECT_THROW(ops::scaled_dot_product_attention(q8, q8, v200), ValueError);
}

// ---- dropout -----------------------------------------------------------------------------------------------

TEST(CudaNn, DropoutMaskMatchesCpu) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(21);
  for (DType t : floating_dtypes()) {
    for (double p : {0.0, 0.3, 0.9, 1.0}) {
      for (uint64_t offset : {uint64_t{0}, uint64_t{8}}) {
        SCOPED_TRACE(std::string(dtype_name(t)) + " p " + std::to_string(p) + " offset " + std::to_string(offset));
        const Tensor x = rnd({1001}, t, rng, 0.5, 2.0);  // never zero: a zero output means dropped
        const Tensor c = ops::dropout(x, p, 1234, offset), g = ops::dropout(gpu(x), p, 1234, offset);
        EXPECT_MATCH(g, c, cross_tol(t));
        // The same elements dropped on both devices (the mask is exact, only the scaling rounds).
        const auto cv = to_host(c), gv = to_host(g.to(kCPU));
        int64_t differ = 0;
        for (size_t i = 0; i < cv.size(); ++i) differ += (cv[i] == 0.0) != (gv[i] == 0.0);
        EXPECT_EQ(differ, 0);
        const Tensor go = rnd({1001}, t, rng);
        EXPECT_MATCH(ops::dropout_backward(gpu(go), p, 1234, offset), ops::dropout_backward(go, p, 1234, offset),
                     cross_tol(t));
      }
    }
  }
}

// ---- conv2d ------------------------------------------------------------------------------------------------

TEST(CudaNn, Conv2dForwardBackward) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(22);
  struct Case {
    Shape x, w;
    ops::Conv2dParams p;
    bool bias;
  };
  std::vector<Case> cases;
  cases.push_back({{2, 3, 9, 11}, {4, 3, 3, 3}, {}, true});
  ops::Conv2dParams strided;
  strided.stride = {2, 3};
  strided.padding = {1, 2};
  cases.push_back({{3, 4, 13, 10}, {5, 4, 3, 2}, strided, false});
  ops::Conv2dParams dilated_groups;
  dilated_groups.dilation = {2, 1};
  dilated_groups.padding = {2, 0};
  dilated_groups.groups = 2;
  cases.push_back({{2, 6, 12, 12}, {4, 3, 3, 3}, dilated_groups, true});
  ops::Conv2dParams depthwise;
  depthwise.groups = 5;
  depthwise.padding = {1, 1};
  cases.push_back({{1, 5, 7, 8}, {5, 1, 3, 3}, depthwise, true});
  for (DType t : floating_dtypes()) {
    // Tensor-core paths for 16-bit types round products differently; float32 is FMA-only (no TF32).
    const Tol tol = t == DType::Float16 || t == DType::BFloat16 ? scaled(cross_tol(t), 4) : scaled(cross_tol(t), 2);
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      SCOPED_TRACE(std::string(dtype_name(t)) + " case " + std::to_string(i));
      const Tensor x = rnd(c.x, t, rng), w = rnd(c.w, t, rng, -0.5, 0.5);
      const Tensor b = c.bias ? rnd({c.w[0]}, t, rng) : Tensor();
      const Tensor y = ops::conv2d(x, w, b, c.p);
      const Tensor yg = ops::conv2d(gpu(x), gpu(w), gpu(b), c.p);
      EXPECT_MATCH(yg, y, tol);
      const Tensor go = rnd(y.shape(), t, rng);
      const auto cg = ops::conv2d_backward(go, x, w, c.p);
      const auto gg = ops::conv2d_backward(gpu(go), gpu(x), gpu(w), c.p);
      EXPECT_MATCH(gg.grad_input, cg.grad_input, tol);
      EXPECT_MATCH(gg.grad_weight, cg.grad_weight, scaled(tol, 4));
      EXPECT_MATCH(gg.grad_bias, cg.grad_bias, scaled(tol, 4));
      const auto only_w = ops::conv2d_backward(gpu(go), gpu(x), gpu(w), c.p, {false, true, false});
      EXPECT_FALSE(only_w.grad_input.defined());
      EXPECT_MATCH(only_w.grad_weight, cg.grad_weight, scaled(tol, 4));
    }
  }
}

// ---- max_pool2d --------------------------------------------------------------------------------------------

TEST(CudaNn, MaxPool2dForwardBackward) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(23);
  std::vector<ops::Pool2dParams> params(4);
  params[1].kernel = {3, 3};
  params[1].stride = {2, 2};
  params[1].padding = {1, 1};  // overlapping windows: the backward adds several outputs into one input
  params[2].kernel = {2, 3};
  params[2].stride = {1, 2};
  params[2].dilation = {2, 1};
  params[3].kernel = {3, 3};
  params[3].stride = {2, 2};
  params[3].ceil_mode = true;
  for (DType t : floating_dtypes()) {
    for (size_t i = 0; i < params.size(); ++i) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " params " + std::to_string(i));
      // Distinct values within each plane (a shuffled ramp of halves, exact in every dtype), so that the argmax
      // is unique whatever the scan order.
      const Shape s = {2, 3, 11, 10};
      const int64_t plane = 11 * 10;
      std::vector<double> vals(static_cast<size_t>(numel_of(s)));
      for (size_t j = 0; j < vals.size(); ++j)
        vals[j] = 0.5 * static_cast<double>(static_cast<int64_t>(j) % plane - 55);
      for (size_t j = 0; j < vals.size(); j += plane) std::shuffle(vals.begin() + j, vals.begin() + j + plane, rng);
      const Tensor x = make(vals, s, t);
      const auto c = ops::max_pool2d(x, params[i]);
      const auto g = ops::max_pool2d(gpu(x), params[i]);
      EXPECT_MATCH(g.out, c.out, kExact);
      EXPECT_MATCH(g.indices, c.indices, kExact);
      const Tensor go = rnd(c.out.shape(), t, rng);
      EXPECT_MATCH(ops::max_pool2d_backward(gpu(go), gpu(x), g.indices, params[i]),
                   ops::max_pool2d_backward(go, x, c.indices, params[i]), cross_tol(t));
    }
  }
}

// ---- adamw -------------------------------------------------------------------------------------------------

TEST(CudaNn, AdamWSteps) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(24);
  for (DType t : floating_dtypes()) {
    for (bool maximize : {false, true}) {
      SCOPED_TRACE(std::string(dtype_name(t)) + (maximize ? " maximize" : ""));
      const Shape s = {37, 29};
      const Tensor p = rnd(s, t, rng), m = rnd(s, t, rng, -0.1, 0.1), v = rnd(s, t, rng, 0.0, 0.01);
      const Tensor pg = gpu(p), mg = gpu(m), vg = gpu(v);  // copies: each device updates its own
      ops::AdamWParams ap;
      ap.lr = 1e-2;
      ap.weight_decay = 0.1;
      ap.maximize = maximize;
      for (int64_t step = 1; step <= 3; ++step) {
        ap.step = step;
        const Tensor g = rnd(s, t, rng);
        ops::adamw_(p, g, m, v, ap);
        ops::adamw_(pg, gpu(g).t().contiguous().t(), mg, vg, ap);  // grad as a column-major view
      }
      EXPECT_MATCH(pg, p, scaled(cross_tol(t), 4));
      EXPECT_MATCH(mg, m, scaled(cross_tol(t), 4));
      EXPECT_MATCH(vg, v, scaled(cross_tol(t), 4));
    }
  }
}

// ---- devices -----------------------------------------------------------------------------------------------

TEST(CudaNn, MixedDevicesRaise) {
  ICCRT_SKIP_WITHOUT_GPU();
  std::mt19937 rng(25);
  const Tensor x = rnd({4, 6}, DType::Float32, rng);
  EXPECT_THROW(ops::softmax_backward(x, gpu(x), 1), DeviceError);
  EXPECT_THROW(ops::layer_norm(gpu(x), {6}, x.select(0, 0), Tensor()), DeviceError);
  EXPECT_THROW(ops::scaled_dot_product_attention(gpu(x), x, x), DeviceError);
  EXPECT_THROW(ops::conv2d(gpu(x).view({1, 1, 4, 6}), x.view({1, 1, 4, 6}), Tensor()), DeviceError);
}

}  // namespace
}  // namespace iccrt::test
