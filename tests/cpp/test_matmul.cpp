// matmul / mm / bmm against a float64 reference that follows numpy.matmul's rules.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "iccrt/core/error.hpp"
#include "iccrt/autograd/functions.hpp"
#include "iccrt/ops/matmul.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

using test::to_host;

// Error allowed per unit of sum_k |a_ik * b_kj|.
double gemm_rtol(DType t) {
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

// numpy.matmul on host values; also returns sum |a*b| per output element for the tolerance.
void matmul_ref(const Tensor& a, const Tensor& b, Shape* out_shape, std::vector<double>* out,
                std::vector<double>* absum) {
  Shape sa = a.shape(), sb = b.shape();
  const bool a1 = sa.size() == 1, b1 = sb.size() == 1;
  if (a1) sa.insert(sa.begin(), 1);
  if (b1) sb.push_back(1);
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  const Shape batch = test::broadcast_ref(ba, bb);
  const auto av = to_host(a), bv = to_host(b);
  *out_shape = batch;
  if (!a1) out_shape->push_back(m);
  if (!b1) out_shape->push_back(n);
  out->clear();
  absum->clear();
  const Shape bshape = batch.empty() ? Shape{1} : batch;
  test::for_each_index(bshape, [&](const std::vector<int64_t>& bi_full) {
    const std::vector<int64_t> bi = batch.empty() ? std::vector<int64_t>{} : bi_full;
    const int64_t oa = ba.empty() ? 0 : test::broadcast_flat(ba, bi);
    const int64_t ob = bb.empty() ? 0 : test::broadcast_flat(bb, bi);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0, s_abs = 0;
        for (int64_t p = 0; p < k; ++p) {
          const double x = av[(oa * m + i) * k + p] * bv[(ob * k + p) * n + j];
          s += x;
          s_abs += std::fabs(x);
        }
        out->push_back(s);
        absum->push_back(s_abs);
      }
  });
}

::testing::AssertionResult matmul_matches(const Tensor& a, const Tensor& b, const Tensor& got) {
  Shape shape;
  std::vector<double> ref, absum;
  matmul_ref(a, b, &shape, &ref, &absum);
  const double rtol = gemm_rtol(a.dtype());
  // float16 results below 2^-14 are subnormal: their spacing is 2^-24 whatever the relative tolerance says.
  const double floor = a.dtype() == DType::Float16 ? std::ldexp(1.0, -24) : 1e-30;
  for (auto& x : absum) x = x * rtol + floor;
  if (got.dtype() != a.dtype())
    return ::testing::AssertionFailure() << "dtype " << dtype_name(got.dtype()) << ", expected "
                                         << dtype_name(a.dtype());
  return test::close_to(got, shape, ref, test::Tol{0, 0}, absum);
}

std::string desc(const Tensor& a, const Tensor& b) {
  return std::string(dtype_name(a.dtype())) + " " + test::shape_str(a.shape()) + " @ " + test::shape_str(b.shape());
}

Tensor rnd(const Shape& s, DType t, std::mt19937& rng) { return test::random_tensor(s, t, -1, 1, rng); }

TEST(Matmul, Shapes2DAllOddSizes) {
  std::mt19937 rng(10);
  for (DType t : test::floating_dtypes()) {
    for (int64_t m : {1, 7, 33, 129})
      for (int64_t k : {1, 7, 33, 129})
        for (int64_t n : {1, 7, 33, 129}) {
          const Tensor a = rnd({m, k}, t, rng), b = rnd({k, n}, t, rng);
          EXPECT_TRUE(matmul_matches(a, b, matmul(a, b))) << desc(a, b);
        }
  }
}

TEST(Matmul, NumpyRankRules) {
  std::mt19937 rng(11);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{7}, {7}},                    // dot -> 0-d
      {{5, 7}, {7}},                 // matrix-vector
      {{7}, {7, 3}},                 // vector-matrix
      {{4, 5, 7}, {7, 3}},           // batch x matrix
      {{5, 7}, {4, 7, 3}},           // matrix x batch
      {{4, 5, 7}, {4, 7, 3}},        // batch x batch
      {{2, 1, 5, 7}, {3, 7, 3}},     // batch dims broadcast to [2, 3]
      {{1, 5, 7}, {4, 7, 3}},        // size-1 batch broadcasts
      {{2, 3, 5, 7}, {2, 3, 7, 6}},  // 4-D
      {{2, 3, 5, 7}, {7}},           // 4-D x vector
      {{7}, {2, 3, 7, 6}},           // vector x 4-D
      {{4, 5, 7}, {7}},              // batch x vector -> [4, 5]
      {{7}, {4, 7, 3}},              // vector x batch -> [4, 3]
      {{1, 1}, {1, 1}},
      {{3, 1}, {1, 4}},  // outer product
  };
  for (DType t : test::floating_dtypes()) {
    for (const auto& [sa, sb] : cases) {
      const Tensor a = rnd(sa, t, rng), b = rnd(sb, t, rng);
      Tensor c;
      ASSERT_NO_THROW(c = matmul(a, b)) << desc(a, b);
      EXPECT_TRUE(matmul_matches(a, b, c)) << desc(a, b);
    }
  }
  EXPECT_EQ(matmul(ones({7}), ones({7})).dim(), 0);
  EXPECT_EQ(matmul(ones({2, 1, 5, 7}), ones({3, 7, 4})).shape(), (Shape{2, 3, 5, 4}));
  EXPECT_EQ(matmul(ones({7}), ones({4, 7, 3})).shape(), (Shape{4, 3}));
}

TEST(Matmul, TransposedAndStridedViews) {
  std::mt19937 rng(12);
  for (DType t : test::floating_dtypes()) {
    for (int64_t s : {1, 7, 33, 129}) {
      const int64_t m = s, k = s + 2, n = s + 5;
      const Tensor at = rnd({k, m}, t, rng).t();                // [m, k], column-major
      const Tensor bt = rnd({n, k}, t, rng).transpose(-1, -2);  // [k, n], column-major
      const Tensor a = rnd({m, k}, t, rng), b = rnd({k, n}, t, rng);
      EXPECT_TRUE(matmul_matches(at, b, matmul(at, b))) << "a.t() " << desc(at, b);
      EXPECT_TRUE(matmul_matches(a, bt, matmul(a, bt))) << "b.T " << desc(a, bt);
      EXPECT_TRUE(matmul_matches(at, bt, matmul(at, bt))) << "both " << desc(at, bt);
      // Row stride larger than the row (a sub-matrix), and an inner stride of 2 (needs a copy).
      const Tensor sub = rnd({m + 3, k + 4}, t, rng).narrow(0, 2, m).narrow(1, 1, k);
      const Tensor step = rnd({k, 2 * n}, t, rng).slice(1, 0, 2 * n, 2);
      EXPECT_TRUE(matmul_matches(sub, step, matmul(sub, step))) << "sliced " << desc(sub, step);
      // Batched views: a transposed batch of matrices, a batch dim that is not outermost in memory, a
      // broadcast (stride-0) batch.
      const Tensor ba = rnd({3, k, m}, t, rng).transpose(-1, -2);   // [3, m, k]
      const Tensor bb = rnd({k, 3, n}, t, rng).permute({1, 0, 2});  // [3, k, n]
      const Tensor be = rnd({1, k, n}, t, rng).expand({3, k, n});
      EXPECT_TRUE(matmul_matches(ba, bb, matmul(ba, bb))) << "batched views " << desc(ba, bb);
      EXPECT_TRUE(matmul_matches(ba, be, matmul(ba, be))) << "expanded batch " << desc(ba, be);
      // A vector with a stride.
      const Tensor v = rnd({2 * k}, t, rng).slice(0, 0, 2 * k, 2);
      EXPECT_TRUE(matmul_matches(a, v, matmul(a, v))) << "strided vector " << desc(a, v);
    }
  }
}

TEST(Matmul, LargerThreadedSizes) {
  std::mt19937 rng(13);
  for (DType t : test::floating_dtypes()) {
    const Tensor a = rnd({300, 257}, t, rng), b = rnd({257, 263}, t, rng);
    EXPECT_TRUE(matmul_matches(a, b, matmul(a, b))) << desc(a, b);
    const Tensor ab = rnd({4, 65, 130}, t, rng), bb = rnd({4, 130, 67}, t, rng);
    EXPECT_TRUE(matmul_matches(ab, bb, matmul(ab, bb))) << desc(ab, bb);
  }
}

TEST(Matmul, ZeroSizedDims) {
  for (DType t : test::floating_dtypes()) {
    Tensor c = matmul(ones({3, 0}, t), ones({0, 4}, t));  // k = 0: zeros, not garbage
    EXPECT_TRUE(test::equals(c, {3, 4}, std::vector<double>(12, 0.0))) << dtype_name(t);
    EXPECT_EQ(matmul(ones({0, 5}, t), ones({5, 4}, t)).shape(), (Shape{0, 4}));
    EXPECT_EQ(matmul(ones({3, 5}, t), ones({5, 0}, t)).shape(), (Shape{3, 0}));
    EXPECT_EQ(matmul(ones({0, 3, 5}, t), ones({5, 2}, t)).shape(), (Shape{0, 3, 2}));
    EXPECT_TRUE(test::equals(matmul(ones({0}, t), ones({0}, t)), {}, {0})) << dtype_name(t);
    Tensor big = full({2, 64, 0}, 1, t);
    EXPECT_TRUE(test::equals(matmul(big, ones({0, 33}, t)), {2, 64, 33}, std::vector<double>(2 * 64 * 33, 0.0)));
  }
}

TEST(Matmul, MmAndBmm) {
  std::mt19937 rng(14);
  for (DType t : test::floating_dtypes()) {
    const Tensor a = rnd({9, 17}, t, rng), b = rnd({17, 5}, t, rng);
    EXPECT_TRUE(matmul_matches(a, b, mm(a, b))) << desc(a, b);
    EXPECT_TRUE(matmul_matches(a.t().t(), b.t().contiguous().t(), mm(a, b.t().contiguous().t())));
    const Tensor x = rnd({3, 9, 17}, t, rng), y = rnd({3, 17, 5}, t, rng);
    EXPECT_TRUE(matmul_matches(x, y, bmm(x, y))) << desc(x, y);
  }
  EXPECT_THROW(mm(ones({2, 3, 4}), ones({4, 5})), Error);
  EXPECT_THROW(mm(ones({3}), ones({3, 5})), Error);
  EXPECT_THROW(mm(ones({2, 3}), ones({4, 5})), ShapeError);
  EXPECT_THROW(bmm(ones({2, 3, 4}), ones({3, 4, 5})), ShapeError);
  EXPECT_THROW(bmm(ones({3, 4}), ones({4, 5})), Error);
}

TEST(Matmul, Errors) {
  EXPECT_THROW(matmul(ones({2, 3}), ones({4, 5})), ShapeError);
  EXPECT_THROW(matmul(ones({3}), ones({4})), ShapeError);
  EXPECT_THROW(matmul(ones({2, 5, 7}), ones({3, 7, 2})), ShapeError);  // batch 2 vs 3
  EXPECT_THROW(matmul(ones({5, 7}), ones({6})), ShapeError);
  EXPECT_THROW(matmul(ones({2, 3}, DType::Int32), ones({3, 2}, DType::Int32)), DTypeError);
  EXPECT_THROW(matmul(ones({2, 3}, DType::Int64), ones({3, 2}, DType::Int64)), DTypeError);
  EXPECT_THROW(matmul(ones({2, 3}, DType::Bool), ones({3, 2}, DType::Bool)), DTypeError);
  EXPECT_THROW(matmul(ones({2, 3}), ones({3, 2}, DType::Float64)), DTypeError);
  EXPECT_THROW(matmul(full({}, 2.0), ones({3})), Error);
  EXPECT_THROW(matmul(ones({3}), full({}, 2.0)), Error);
  EXPECT_THROW(matmul(Tensor(), ones({3})), Error);
}

TEST(Matmul, Tf32Flag) {
  const bool before = allow_tf32();
  EXPECT_FALSE(before);  // off by default, as in PyTorch
  set_allow_tf32(true);
  EXPECT_TRUE(allow_tf32());
  set_allow_tf32(false);
  EXPECT_FALSE(allow_tf32());
}

}  // namespace
}  // namespace iccrt
