// Tensor factories, metadata, views, copies, casts and element access.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "iccrt/core/error.hpp"
#include "iccrt/core/storage.hpp"
#include "iccrt/core/tensor.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

using test::equals;
using test::to_host;

std::vector<double> iota(int64_t n, double start = 0) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<double>(i);
  return v;
}

// [2, 3, 4] float32 holding 0..23.
Tensor base234() { return from_vector(iota(24), {2, 3, 4}, DType::Float32); }

// ---------------------------------------------------------------------------------------------------------------
// factories and metadata

TEST(TensorFactory, EmptyMetadata) {
  Tensor t = empty({2, 3});
  ASSERT_TRUE(t.defined());
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  EXPECT_EQ(t.dim(), 2);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.dtype(), DType::Float32);
  EXPECT_EQ(t.itemsize(), 4);
  EXPECT_EQ(t.nbytes(), 24);
  EXPECT_EQ(t.device(), kCPU);
  EXPECT_EQ(t.offset(), 0);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.size(-1), 3);
  EXPECT_EQ(t.size(0), 2);
  EXPECT_EQ(t.stride(-2), 3);
  EXPECT_THROW(t.size(2), IndexError);
  EXPECT_THROW(t.stride(-3), IndexError);
  EXPECT_EQ(t.str(), "Tensor(shape=[2, 3], dtype=float32, device=cpu)");
  EXPECT_GE(static_cast<int64_t>(t.storage()->nbytes()), 24);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data_ptr()) % 64, 0u);
  EXPECT_EQ(empty({4, 5}, DType::Int64).strides(), (Shape{5, 1}));
  EXPECT_EQ(contiguous_strides({2, 3, 4}), (Shape{12, 4, 1}));
}

TEST(TensorFactory, ZerosOnesFullEveryDtype) {
  for (DType t : test::all_dtypes()) {
    EXPECT_TRUE(equals(zeros({3, 5}, t), {3, 5}, std::vector<double>(15, 0.0))) << dtype_name(t);
    EXPECT_TRUE(equals(ones({2, 2, 2}, t), {2, 2, 2}, std::vector<double>(8, 1.0))) << dtype_name(t);
    EXPECT_EQ(ones({1}, t).dtype(), t);
    const double v = t == DType::Bool ? 1.0 : 7.0;
    EXPECT_TRUE(equals(full({4}, Scalar(static_cast<int64_t>(v)), t), {4}, std::vector<double>(4, v))) << dtype_name(t);
  }
  EXPECT_TRUE(equals(full({2, 3}, 2.5, DType::Float64), {2, 3}, std::vector<double>(6, 2.5)));
  EXPECT_TRUE(equals(full({3}, -0.1, DType::Float32), {3}, std::vector<double>(3, double(-0.1f))));
  EXPECT_TRUE(equals(full({2}, true, DType::Bool), {2}, {1, 1}));
  Tensor like = zeros_like(full({2, 7}, 3, DType::Int32));
  EXPECT_EQ(like.dtype(), DType::Int32);
  EXPECT_TRUE(equals(like, {2, 7}, std::vector<double>(14, 0.0)));
  Tensor el = empty_like(ones({3, 1}, DType::BFloat16));
  EXPECT_EQ(el.shape(), (Shape{3, 1}));
  EXPECT_EQ(el.dtype(), DType::BFloat16);
}

TEST(TensorFactory, NegativeAndTooManyDims) {
  EXPECT_THROW(empty({-1}), ValueError);
  EXPECT_THROW(zeros({2, -3}), ValueError);
  EXPECT_THROW(full({-2}, 1), ValueError);
  EXPECT_THROW(shape_numel({1 << 30, 1 << 30, 1 << 30}), ValueError);  // overflows int64
  EXPECT_EQ(shape_numel({2, 3, 0}), 0);
  EXPECT_EQ(shape_numel({}), 1);

  Shape twelve(kMaxDims, 1), thirteen(kMaxDims + 1, 1);
  EXPECT_NO_THROW(empty(twelve));
  EXPECT_THROW(empty(thirteen), Error);
  EXPECT_THROW(empty(twelve).unsqueeze(0), Error);
  EXPECT_THROW(empty({1}).view(thirteen), Error);
  EXPECT_THROW(empty({1}).expand(thirteen), Error);
}

TEST(TensorFactory, Arange) {
  EXPECT_TRUE(equals(arange(0, 5), {5}, {0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(0, 5).dtype(), DType::Int64);
  EXPECT_TRUE(equals(arange(10, 0, -3), {4}, {10, 7, 4, 1}));
  EXPECT_TRUE(equals(arange(-2, 3, 2, DType::Int32), {3}, {-2, 0, 2}));
  EXPECT_TRUE(equals(arange(0.0, 1.0, 0.25, DType::Float32), {4}, {0, 0.25, 0.5, 0.75}));
  EXPECT_TRUE(equals(arange(1.0, -1.0, -0.5, DType::Float64), {4}, {1, 0.5, 0, -0.5}));
  EXPECT_TRUE(equals(arange(0, 7, 2, DType::Float32), {4}, {0, 2, 4, 6}));
  EXPECT_EQ(arange(3, 3).numel(), 0);
  EXPECT_EQ(arange(5, 0).numel(), 0);  // positive step, end before start
  EXPECT_EQ(arange(0, 5, -1).numel(), 0);
  Tensor f = arange(0.0, 1.0, 0.1, DType::Float64);  // ceil(1 / 0.1) = 10 values
  ASSERT_EQ(f.numel(), 10);
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(f.get({i}), 0.1 * i, 1e-15);
}

TEST(TensorFactory, ArangeErrorsAndBigIntegers) {
  EXPECT_THROW(arange(0, 5, 0), ValueError);
  EXPECT_THROW(arange(0.0, 1.0, 0.0, DType::Float32), ValueError);
  const int64_t big = (int64_t{1} << 53) + 1;
  Tensor b = arange(big, big + 3);
  ASSERT_EQ(b.numel(), 3);
  EXPECT_EQ(b.data<int64_t>()[0], big);
  EXPECT_EQ(b.data<int64_t>()[2], big + 2);
}

TEST(TensorFactory, FromVector) {
  Tensor t = from_vector({1.5, -2, 3}, {3}, DType::Float64);
  EXPECT_TRUE(equals(t, {3}, {1.5, -2, 3}));
  EXPECT_THROW(from_vector({1, 2, 3}, {2, 2}), ValueError);
  Tensor h = from_vector({0.1, 1e5}, {2}, DType::Float16);  // rounds; 1e5 overflows to inf
  EXPECT_EQ(h.data<Half>()[0].bits, Half(0.1f).bits);
  EXPECT_TRUE(std::isinf(h.get({1})));
  Tensor i = from_vector({3, -4}, {2, 1}, DType::Int32);
  EXPECT_EQ(i.data<int32_t>()[1], -4);
  EXPECT_THROW(i.data<float>(), DTypeError);
}

// ---------------------------------------------------------------------------------------------------------------
// views

TEST(TensorView, ViewAndInferredDim) {
  Tensor b = base234();
  Tensor v = b.view({6, 4});
  EXPECT_EQ(v.shape(), (Shape{6, 4}));
  EXPECT_EQ(v.storage(), b.storage());
  EXPECT_TRUE(equals(v, {6, 4}, iota(24)));
  EXPECT_EQ(b.view({-1, 4}).shape(), (Shape{6, 4}));
  EXPECT_EQ(b.view({2, -1}).shape(), (Shape{2, 12}));
  EXPECT_EQ(b.view({-1}).shape(), (Shape{24}));
  EXPECT_EQ(b.flatten().shape(), (Shape{24}));
  EXPECT_EQ(b.view({1, 24, 1}).shape(), (Shape{1, 24, 1}));
  EXPECT_THROW(b.view({5, 5}), ShapeError);
  EXPECT_THROW(b.view({-1, 5}), ShapeError);
  EXPECT_THROW(b.view({-1, -1}), ShapeError);
  // Transposed memory cannot be flattened without a copy.
  EXPECT_THROW(b.transpose(0, 2).view({24}), ShapeError);
  // ...but merging dims that are still contiguous with each other can.
  Tensor p = b.permute({1, 2, 0});  // [3, 4, 2], strides [4, 1, 12]
  EXPECT_EQ(p.view({12, 2}).strides(), (Shape{1, 12}));
  EXPECT_THROW(p.view({3, 8}), ShapeError);
}

TEST(TensorView, ReshapeCopiesOnlyWhenNeeded) {
  Tensor b = base234();
  Tensor r = b.reshape({4, 6});
  EXPECT_EQ(r.storage(), b.storage());
  Tensor tr = b.transpose(0, 2);  // [4, 3, 2]
  Tensor flat = tr.reshape({24});
  EXPECT_NE(flat.storage(), b.storage());
  EXPECT_TRUE(flat.is_contiguous());
  std::vector<double> ref;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 2; ++k) ref.push_back(k * 12 + j * 4 + i);
  EXPECT_TRUE(equals(flat, {24}, ref));
  EXPECT_TRUE(equals(tr.reshape({-1, 6}), {4, 6}, ref));
}

TEST(TensorView, PermuteTransposeT) {
  Tensor b = base234();
  Tensor p = b.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.strides(), (Shape{1, 12, 4}));
  EXPECT_FALSE(p.is_contiguous());
  EXPECT_EQ(p.storage(), b.storage());
  std::vector<double> ref;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) ref.push_back(j * 12 + k * 4 + i);
  EXPECT_TRUE(equals(p, {4, 2, 3}, ref));
  EXPECT_EQ(b.permute({-1, 0, 1}).shape(), (Shape{4, 2, 3}));
  EXPECT_THROW(b.permute({0, 1}), ValueError);
  EXPECT_THROW(b.permute({0, 0, 1}), ValueError);
  EXPECT_THROW(b.permute({0, 1, 3}), IndexError);

  Tensor t = b.transpose(0, -1);
  EXPECT_EQ(t.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(t.strides(), (Shape{1, 4, 12}));
  EXPECT_THROW(b.transpose(0, 3), IndexError);

  Tensor m = from_vector(iota(6), {2, 3});
  EXPECT_TRUE(equals(m.t(), {3, 2}, {0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(from_vector(iota(3), {3}).t().shape(), (Shape{3}));
  EXPECT_THROW(b.t(), Error);
}

TEST(TensorView, NarrowSliceSelect) {
  Tensor b = base234();
  Tensor n = b.narrow(1, 1, 2);
  EXPECT_EQ(n.shape(), (Shape{2, 2, 4}));
  EXPECT_EQ(n.offset(), 4);
  EXPECT_TRUE(equals(n, {2, 2, 4}, {4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23}));
  EXPECT_EQ(b.narrow(-1, 3, 0).numel(), 0);
  EXPECT_THROW(b.narrow(1, 2, 2), Error);
  EXPECT_THROW(b.narrow(3, 0, 1), IndexError);

  Tensor v = from_vector(iota(10), {10});
  EXPECT_TRUE(equals(v.slice(0, 1, 8, 3), {3}, {1, 4, 7}));
  EXPECT_TRUE(equals(v.slice(0, -3, 100), {3}, {7, 8, 9}));
  EXPECT_TRUE(equals(v.slice(0, -100, 3), {3}, {0, 1, 2}));
  EXPECT_TRUE(equals(v.slice(0, 0, -7, 2), {2}, {0, 2}));
  EXPECT_EQ(v.slice(0, 6, 2).numel(), 0);
  EXPECT_EQ(v.slice(0, 1, 10, 4).strides(), (Shape{4}));
  EXPECT_THROW(v.slice(0, 0, 10, 0), Error);
  EXPECT_THROW(v.slice(0, 0, 10, -1), Error);
  EXPECT_TRUE(equals(b.slice(2, 1, 4, 2), {2, 3, 2}, {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23}));
  // Slices of slices compose.
  EXPECT_TRUE(equals(b.slice(2, 0, 4, 2).slice(1, 1, 3).select(0, 1), {2, 2}, {16, 18, 20, 22}));

  Tensor s = b.select(1, -1);
  EXPECT_EQ(s.shape(), (Shape{2, 4}));
  EXPECT_TRUE(equals(s, {2, 4}, {8, 9, 10, 11, 20, 21, 22, 23}));
  EXPECT_TRUE(equals(b.select(0, 1).select(0, 2), {4}, {20, 21, 22, 23}));
  EXPECT_EQ(b.select(0, 1).select(0, 2).select(0, 3).dim(), 0);
  EXPECT_EQ(b.select(0, 1).select(0, 2).select(0, 3).item<double>(), 23);
  EXPECT_THROW(b.select(0, 2), IndexError);
  EXPECT_THROW(b.select(0, -3), IndexError);
  EXPECT_THROW(b.select(3, 0), IndexError);
  EXPECT_THROW(full({}, 1).select(0, 0), IndexError);
}

TEST(TensorView, Expand) {
  Tensor x = from_vector({1, 2, 3}, {3, 1});
  Tensor e = x.expand({2, 3, 4});
  EXPECT_EQ(e.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(e.strides()[0], 0);
  EXPECT_EQ(e.strides()[2], 0);
  EXPECT_EQ(e.storage(), x.storage());
  std::vector<double> ref;
  for (int a = 0; a < 2; ++a)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) ref.push_back(i + 1);
  EXPECT_TRUE(equals(e, {2, 3, 4}, ref));
  EXPECT_EQ(x.expand({-1, 5}).shape(), (Shape{3, 5}));
  EXPECT_EQ(x.expand({3, 1}).shape(), (Shape{3, 1}));
  EXPECT_EQ(x.expand({0, 3, 2}).numel(), 0);
  EXPECT_THROW(x.expand({4, 4}), ShapeError);
  EXPECT_THROW(x.expand({3}), ShapeError);
  EXPECT_THROW(x.expand({-1, 3, 4}), ShapeError);  // -1 for a new leading dim
  EXPECT_TRUE(equals(full({}, 4.0).expand({2, 2}), {2, 2}, {4, 4, 4, 4}));
}

TEST(TensorView, SqueezeUnsqueeze) {
  Tensor x = from_vector(iota(6), {1, 3, 1, 2});
  EXPECT_EQ(x.squeeze().shape(), (Shape{3, 2}));
  EXPECT_EQ(x.squeeze(0).shape(), (Shape{3, 1, 2}));
  EXPECT_EQ(x.squeeze(-2).shape(), (Shape{1, 3, 2}));
  EXPECT_THROW(x.squeeze(4), IndexError);
  EXPECT_TRUE(equals(x.squeeze(), {3, 2}, iota(6)));
  EXPECT_EQ(full({1, 1}, 2).squeeze().dim(), 0);

  Tensor y = from_vector(iota(6), {2, 3});
  EXPECT_EQ(y.unsqueeze(0).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(y.unsqueeze(1).shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(y.unsqueeze(2).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(y.unsqueeze(-1).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(y.unsqueeze(-3).shape(), (Shape{1, 2, 3}));
  EXPECT_TRUE(y.unsqueeze(1).is_contiguous());
  EXPECT_THROW(y.unsqueeze(3), IndexError);
  EXPECT_THROW(y.unsqueeze(-4), IndexError);
  EXPECT_TRUE(equals(y.t().unsqueeze(1), {3, 1, 2}, {0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(full({}, 1).unsqueeze(0).shape(), (Shape{1}));
}

TEST(TensorView, AsStrided) {
  Tensor b = base234();
  Tensor a = b.as_strided({3, 3}, {4, 1}, 1);
  EXPECT_TRUE(equals(a, {3, 3}, {1, 2, 3, 5, 6, 7, 9, 10, 11}));
  EXPECT_EQ(a.storage(), b.storage());
  EXPECT_TRUE(equals(b.as_strided({2, 2}, {0, 23}, 0), {2, 2}, {0, 23, 0, 23}));
  EXPECT_THROW(b.as_strided({3, 3}, {8, 1}, 10), Error);  // reaches element 28 of 24
  EXPECT_THROW(b.as_strided({1}, {1}, 24), Error);
  EXPECT_THROW(b.as_strided({2}, {1, 1}, 0), Error);
  EXPECT_NO_THROW(b.as_strided({0}, {1}, 0));
}

TEST(TensorView, WritesThroughViewsReachTheBase) {
  Tensor b = base234();
  Tensor v = b.select(0, 1).slice(1, 0, 4, 2);  // [3, 2]: elements 12, 14, 16, 18, 20, 22
  v.fill_(-1);
  std::vector<double> ref = iota(24);
  for (int i : {12, 14, 16, 18, 20, 22}) ref[i] = -1;
  EXPECT_TRUE(equals(b, {2, 3, 4}, ref));
  Tensor n = b.narrow(2, 3, 1);
  n.data<float>()[0] = 42;  // element [0, 0, 3]
  EXPECT_EQ(b.get({0, 0, 3}), 42);
  Tensor t = b.transpose(0, 1);
  t.copy_(full({3, 2, 4}, 5.0));
  EXPECT_TRUE(equals(b, {2, 3, 4}, std::vector<double>(24, 5.0)));
}

// ---------------------------------------------------------------------------------------------------------------
// copies and casts

TEST(TensorCopy, ContiguousAndClone) {
  Tensor b = base234();
  Tensor c = b.contiguous();
  EXPECT_EQ(c.storage(), b.storage());
  EXPECT_EQ(c.data_ptr(), b.data_ptr());
  Tensor tr = b.permute({2, 1, 0});
  Tensor tc = tr.contiguous();
  EXPECT_NE(tc.storage(), b.storage());
  EXPECT_TRUE(tc.is_contiguous());
  EXPECT_EQ(tc.strides(), (Shape{6, 2, 1}));
  EXPECT_TRUE(equals(tc, {4, 3, 2}, to_host(tr)));

  Tensor cl = b.clone();
  EXPECT_NE(cl.storage(), b.storage());
  EXPECT_TRUE(equals(cl, {2, 3, 4}, iota(24)));
  cl.fill_(0);
  EXPECT_TRUE(equals(b, {2, 3, 4}, iota(24)));  // independent
  Tensor sc = b.slice(2, 1, 4, 2).clone();
  EXPECT_TRUE(sc.is_contiguous());
  EXPECT_TRUE(equals(sc, {2, 3, 2}, {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23}));
  // Expanded (stride-0) tensors materialise.
  Tensor ex = from_vector({1, 2}, {2, 1}).expand({2, 3}).clone();
  EXPECT_EQ(ex.strides(), (Shape{3, 1}));
  EXPECT_TRUE(equals(ex, {2, 3}, {1, 1, 1, 2, 2, 2}));
}

TEST(TensorCopy, ToEveryDtypePair) {
  std::mt19937 rng(11);
  for (DType src : test::all_dtypes()) {
    for (DType dst : test::all_dtypes()) {
      // Non-negative values when either side is unsigned or bool; signed otherwise. Multiples of 1/8 so that
      // float -> int truncation is exercised and every value is exact in float32.
      const bool nonneg = src == DType::UInt8 || src == DType::Bool || dst == DType::UInt8;
      std::vector<double> vals(1000);
      std::uniform_int_distribution<int> d(nonneg ? 0 : -960, 959);
      for (size_t i = 0; i < vals.size(); ++i) {
        double v = is_floating(src) ? d(rng) / 8.0 : std::trunc(d(rng) / 8.0);
        if (i % 17 == 0) v = 0;
        vals[i] = test::round_to(src, v);
      }
      Tensor x = from_vector(vals, {25, 40}, src).t();  // non-contiguous source [40, 25]
      const std::vector<double> xs = to_host(x);
      std::vector<double> ref(xs.size());
      for (size_t i = 0; i < xs.size(); ++i) ref[i] = test::round_to(dst, xs[i]);
      Tensor y = x.to(dst);
      EXPECT_EQ(y.dtype(), dst);
      EXPECT_TRUE(equals(y, {40, 25}, ref)) << dtype_name(src) << " -> " << dtype_name(dst);
      if (src == dst) {
        EXPECT_EQ(x.to(dst).storage(), x.storage()) << "to() with nothing to change must not copy";
      }
    }
  }
}

TEST(TensorCopy, ToSpecialValues) {
  const double inf = INFINITY;
  Tensor f = from_vector({NAN, inf, -inf, 70000.0, -0.0, 1e-30}, {6}, DType::Float32);
  Tensor h = f.to(DType::Float16);
  EXPECT_TRUE(std::isnan(h.get({0})));
  EXPECT_EQ(h.get({1}), inf);
  EXPECT_EQ(h.get({2}), -inf);
  EXPECT_EQ(h.get({3}), inf);  // overflow
  EXPECT_TRUE(std::signbit(h.get({4})));
  EXPECT_EQ(h.get({5}), 0.0);
  Tensor bf = f.to(DType::BFloat16);
  EXPECT_TRUE(std::isnan(bf.get({0})));
  EXPECT_EQ(bf.get({3}), 70144.0);  // bf16 nearest of 70000
  Tensor bo = from_vector({0.0, -0.0, 0.5, -3, NAN}, {5}, DType::Float64).to(DType::Bool);
  EXPECT_TRUE(equals(bo, {5}, {0, 0, 1, 1, 1}));
  Tensor d = from_vector({1e300}, {1}, DType::Float64).to(DType::Float32);
  EXPECT_EQ(d.get({0}), inf);
  // int64 -> float64 exact below 2^53, int64 -> float32 rounds to nearest
  Tensor i = full({1}, Scalar(int64_t{16777217}), DType::Int64);
  EXPECT_EQ(i.to(DType::Float64).get({0}), 16777217.0);
  EXPECT_EQ(i.to(DType::Float32).get({0}), 16777216.0);
}

TEST(TensorCopy, CopyWithBroadcastAndCast) {
  Tensor dst = zeros({3, 4}, DType::Float64);
  dst.copy_(from_vector({1, 2, 3, 4}, {4}, DType::Int32));
  EXPECT_TRUE(equals(dst, {3, 4}, {1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}));
  dst.copy_(from_vector({-1.5, 2.25, 7}, {3, 1}, DType::Float16));
  EXPECT_TRUE(equals(dst, {3, 4}, {-1.5, -1.5, -1.5, -1.5, 2.25, 2.25, 2.25, 2.25, 7, 7, 7, 7}));
  dst.copy_(full({}, 9, DType::UInt8));
  EXPECT_TRUE(equals(dst, {3, 4}, std::vector<double>(12, 9.0)));

  // Into a non-contiguous destination, from a non-contiguous source.
  Tensor big = zeros({4, 6}, DType::Int64);
  Tensor view = big.slice(1, 0, 6, 2).t();                            // [3, 4]
  Tensor src = from_vector(iota(12, 1), {4, 3}, DType::Float32).t();  // [3, 4]
  view.copy_(src);
  std::vector<double> ref(24, 0.0);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 3; ++c) ref[r * 6 + c * 2] = 1 + r * 3 + c;
  EXPECT_TRUE(equals(big, {4, 6}, ref));

  Tensor small = zeros({4});
  EXPECT_THROW(small.copy_(zeros({3, 4})), ShapeError);  // src must broadcast to dst, not the other way
  EXPECT_THROW(small.copy_(zeros({3})), ShapeError);
  // Size-0 copies are no-ops.
  EXPECT_NO_THROW(zeros({0, 3}).copy_(ones({3})));
}

TEST(TensorCopy, FillEveryDtype) {
  for (DType t : test::all_dtypes()) {
    Tensor x = zeros({5, 6}, t);
    Tensor col = x.slice(1, 1, 6, 2);  // columns 1, 3, 5
    col.fill_(1);
    std::vector<double> ref(30, 0.0);
    for (int r = 0; r < 5; ++r)
      for (int c = 1; c < 6; c += 2) ref[r * 6 + c] = 1;
    EXPECT_TRUE(equals(x, {5, 6}, ref)) << dtype_name(t);
    x.zero_();
    EXPECT_TRUE(equals(x, {5, 6}, std::vector<double>(30, 0.0))) << dtype_name(t);
  }
  Tensor h = empty({3}, DType::Float16);
  h.fill_(0.1);
  EXPECT_EQ(h.data<Half>()[2].bits, Half(0.1f).bits);
  Tensor big = empty({1 << 16}, DType::Float32);
  big.fill_(-2.5);
  EXPECT_TRUE(equals(big, {1 << 16}, std::vector<double>(1 << 16, -2.5)));
}

TEST(TensorAccess, ItemAndGet) {
  EXPECT_EQ(full({}, 2.5, DType::Float64).item<double>(), 2.5);
  EXPECT_EQ(full({1, 1}, 3, DType::Int32).item<int64_t>(), 3);
  EXPECT_TRUE(full({1}, true, DType::Bool).item<bool>());
  const int64_t big = (int64_t{1} << 53) + 1;  // not representable in double
  EXPECT_EQ(full({}, Scalar(big), DType::Int64).item<int64_t>(), big);
  EXPECT_EQ(full({}, Scalar(big), DType::Int64).item().kind, Scalar::Kind::Int);
  EXPECT_EQ(full({}, 1.0, DType::Float32).item().kind, Scalar::Kind::Float);
  EXPECT_THROW(zeros({2}).item(), Error);
  EXPECT_THROW(zeros({0}).item(), Error);
  Tensor b = base234();
  EXPECT_EQ(b.get({1, 2, 3}), 23);
  EXPECT_EQ(b.transpose(0, 2).get({3, 2, 1}), 23);
  EXPECT_THROW(b.get({2, 0, 0}), Error);
  EXPECT_THROW(b.get({0, 0}), Error);
}

TEST(TensorEdge, UndefinedTensor) {
  Tensor u;
  EXPECT_FALSE(u.defined());
  EXPECT_THROW(u.data_ptr(), Error);
  EXPECT_THROW(u.device(), Error);
  EXPECT_THROW(u.clone(), Error);
  EXPECT_THROW(u.contiguous(), Error);
  EXPECT_THROW(u.view({1}), Error);
  EXPECT_THROW(u.reshape({1}), Error);
  EXPECT_THROW(u.to(DType::Float64), Error);
  EXPECT_THROW(u.item(), Error);
  EXPECT_THROW(u.fill_(1), Error);
  EXPECT_THROW(u.transpose(0, 1), Error);
  Tensor z = zeros({1});
  EXPECT_THROW(z.copy_(u), Error);
  EXPECT_THROW(u.copy_(z), Error);
}

TEST(TensorEdge, ZeroDim) {
  Tensor s = full({}, 2.5, DType::Float64);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_TRUE(s.shape().empty());
  EXPECT_TRUE(s.strides().empty());
  EXPECT_TRUE(s.is_contiguous());
  EXPECT_EQ(s.item<double>(), 2.5);
  EXPECT_EQ(s.get({}), 2.5);
  EXPECT_EQ(s.view({1}).shape(), (Shape{1}));
  EXPECT_EQ(s.view({1, 1, 1}).shape(), (Shape{1, 1, 1}));
  EXPECT_EQ(s.view({1}).reshape({}).dim(), 0);
  EXPECT_EQ(s.reshape({-1}).shape(), (Shape{1}));
  EXPECT_EQ(s.clone().item<double>(), 2.5);
  EXPECT_EQ(s.to(DType::Int32).item<int64_t>(), 2);
  EXPECT_EQ(s.t().dim(), 0);
  EXPECT_EQ(s.squeeze().dim(), 0);
  EXPECT_EQ(zeros({}).dim(), 0);
  EXPECT_EQ(s.str(), "Tensor(shape=[], dtype=float64, device=cpu)");
}

TEST(TensorEdge, SizeZero) {
  Tensor e = zeros({0, 3});
  EXPECT_EQ(e.numel(), 0);
  EXPECT_EQ(e.nbytes(), 0);
  EXPECT_TRUE(e.is_contiguous());
  EXPECT_NE(e.data_ptr(), nullptr);
  EXPECT_EQ(e.clone().shape(), (Shape{0, 3}));
  EXPECT_EQ(e.contiguous().numel(), 0);
  EXPECT_EQ(e.view({3, 0}).shape(), (Shape{3, 0}));
  EXPECT_EQ(e.view({-1}).shape(), (Shape{0}));
  EXPECT_EQ(e.t().shape(), (Shape{3, 0}));
  EXPECT_EQ(e.to(DType::Int64).shape(), (Shape{0, 3}));
  EXPECT_NO_THROW(e.fill_(3));
  EXPECT_EQ(e.unsqueeze(1).shape(), (Shape{0, 1, 3}));
  EXPECT_EQ(e.select(1, 2).shape(), (Shape{0}));
  EXPECT_EQ(empty({0}, DType::Float16).to(DType::BFloat16).numel(), 0);
  EXPECT_TRUE(test::to_host(e).empty());
}

TEST(TensorShape, BroadcastShapesAndWrapDim) {
  EXPECT_EQ(broadcast_shapes({3, 1, 5}, {4, 1}), (Shape{3, 4, 5}));
  EXPECT_EQ(broadcast_shapes({}, {2, 3}), (Shape{2, 3}));
  EXPECT_EQ(broadcast_shapes({0}, {1}), (Shape{0}));
  EXPECT_EQ(broadcast_shapes({2, 1}, {1, 0}), (Shape{2, 0}));
  EXPECT_THROW(broadcast_shapes({3}, {4}), ShapeError);
  EXPECT_THROW(broadcast_shapes({0}, {2}), ShapeError);
  EXPECT_EQ(wrap_dim(-1, 3), 2);
  EXPECT_EQ(wrap_dim(2, 3), 2);
  EXPECT_THROW(wrap_dim(3, 3), IndexError);
  EXPECT_THROW(wrap_dim(-4, 3), IndexError);
}

TEST(TensorStorage, WrapsExternalMemory) {
  static int deleted = 0;
  deleted = 0;
  auto* buf = new float[4]{1, 2, 3, 4};
  {
    Storage s = std::make_shared<StorageImpl>(buf, 16, kCPU, [](void* p) {
      delete[] static_cast<float*>(p);
      ++deleted;
    });
    Tensor t(s, {2, 2}, {1, 2}, 0, DType::Float32);  // column-major view
    EXPECT_TRUE(equals(t, {2, 2}, {1, 3, 2, 4}));
    Tensor keep = t.t();
    s.reset();
    t = Tensor();
    EXPECT_EQ(deleted, 0);  // `keep` still holds the storage
    buf[0] = 10;
    EXPECT_EQ(keep.get({0, 0}), 10);
  }
  EXPECT_EQ(deleted, 1);
}

}  // namespace
}  // namespace iccrt
