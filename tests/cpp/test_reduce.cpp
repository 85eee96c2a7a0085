// Reductions against float64 references: every dim combination, keepdim, layouts, dtypes, NaN and empty cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "iccrt/core/error.hpp"
#include "iccrt/autograd/functions.hpp"
#include "iccrt/ops/reduce.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

using test::close_to;
using test::equals;
using test::to_host;

// The input grouped by output element: groups[o] holds the reduced values of output o in row-major order of the
// reduced dims (so a position in the group is the index max/min report).
struct Groups {
  Shape out_shape;
  std::vector<std::vector<double>> groups;
};

Groups group_by_output(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  const int64_t nd = x.dim();
  std::vector<bool> red(nd, dims.empty());
  for (int64_t d : dims) red[d < 0 ? d + nd : d] = true;
  Groups g;
  Shape kept;
  for (int64_t d = 0; d < nd; ++d) {
    if (!red[d]) {
      g.out_shape.push_back(x.shape()[d]);
      kept.push_back(x.shape()[d]);
    } else if (keepdim) {
      g.out_shape.push_back(1);
    }
  }
  g.groups.resize(static_cast<size_t>(test::numel_of(kept)));
  const auto v = to_host(x);
  size_t flat = 0;
  test::for_each_index(x.shape(), [&](const std::vector<int64_t>& idx) {
    int64_t o = 0, k = 0;
    for (int64_t d = 0; d < nd; ++d)
      if (!red[d]) o = o * kept[k++] + idx[d];
    g.groups[o].push_back(v[flat++]);
  });
  return g;
}

struct Stats {
  double sum, l1, l2, mean, var, max, min;
  int64_t argmax, argmin;
};
Stats stats(const std::vector<double>& v, int64_t correction) {
  Stats s{0, 0, 0, 0, 0, -INFINITY, INFINITY, 0, 0};
  bool nan = false;
  for (size_t i = 0; i < v.size(); ++i) {
    s.sum += v[i];
    s.l1 += std::fabs(v[i]);
    s.l2 += v[i] * v[i];
    if (nan) continue;
    if (std::isnan(v[i])) {  // NaN wins, and its first occurrence is the index
      nan = true;
      s.max = s.min = NAN;
      s.argmax = s.argmin = static_cast<int64_t>(i);
      continue;
    }
    if (v[i] > s.max) s.max = v[i], s.argmax = static_cast<int64_t>(i);
    if (v[i] < s.min) s.min = v[i], s.argmin = static_cast<int64_t>(i);
  }
  const double n = static_cast<double>(v.size());
  s.mean = s.sum / n;  // NaN for an empty group
  double q = 0;
  for (double x : v) q += (x - s.mean) * (x - s.mean);
  s.var = q / (n - static_cast<double>(correction));
  return s;
}

// Accumulation error allowed per unit of sum(|x|).
double acc_tol(DType t) {
  switch (t) {
    case DType::Float64:
      return 1e-13;
    case DType::Float32:
      return 1e-6;
    case DType::Float16:
    case DType::BFloat16:
      return 1e-5;
    default:
      return 0;
  }
}

enum class Op { Sum, Mean, Var, Max, Min };

void check_reduce(Op op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, const std::string& what) {
  const DType t = x.dtype();
  const Groups g = group_by_output(x, dims, keepdim);
  std::vector<double> ref, atol;
  for (const auto& grp : g.groups) {
    const Stats s = stats(grp, 1);
    const double n = static_cast<double>(grp.size());
    switch (op) {
      case Op::Sum:
        ref.push_back(s.sum), atol.push_back(acc_tol(t) * s.l1);
        break;
      case Op::Mean:
        ref.push_back(s.mean), atol.push_back(acc_tol(t) * s.l1 / std::max(n, 1.0));
        break;
      case Op::Var:
        ref.push_back(s.var), atol.push_back(acc_tol(t) * 10 * s.l2 / std::max(n, 1.0));
        break;
      case Op::Max:
        ref.push_back(s.max), atol.push_back(0);
        break;
      case Op::Min:
        ref.push_back(s.min), atol.push_back(0);
        break;
    }
  }
  const char* names[] = {"sum", "mean", "var", "max", "min"};
  std::string ctx = std::string(names[static_cast<int>(op)]) + " " + dtype_name(t) + " dims=" + test::shape_str(dims) +
                    (keepdim ? " keepdim " : " ") + what;
  Tensor y;
  switch (op) {
    case Op::Sum:
      y = sum(x, dims, keepdim);
      break;
    case Op::Mean:
      y = mean(x, dims, keepdim);
      break;
    case Op::Var:
      y = var(x, dims, 1, keepdim);
      break;
    case Op::Max:
    case Op::Min: {
      if (dims.size() == 1) {
        auto [vals, idx] = op == Op::Max ? max(x, dims[0], keepdim) : min(x, dims[0], keepdim);
        EXPECT_EQ(idx.dtype(), DType::Int64) << ctx;
        std::vector<double> iref;
        for (const auto& grp : g.groups) {
          const Stats s = stats(grp, 1);
          iref.push_back(static_cast<double>(op == Op::Max ? s.argmax : s.argmin));
        }
        EXPECT_TRUE(equals(idx, g.out_shape, iref)) << ctx << " (indices)";
        EXPECT_TRUE(
            equals(op == Op::Max ? argmax(x, dims[0], keepdim) : argmin(x, dims[0], keepdim), g.out_shape, iref))
            << ctx << " (arg)";
        y = vals;
      } else {
        ASSERT_TRUE(dims.empty() && !keepdim);
        y = op == Op::Max ? max(x) : min(x);
      }
      break;
    }
  }
  DType expect_dtype = t;
  if (op == Op::Sum && !is_floating(t)) expect_dtype = DType::Int64;
  EXPECT_EQ(y.dtype(), expect_dtype) << ctx;
  const test::Tol tol = op == Op::Max || op == Op::Min ? test::Tol{0, 0}
                        : op == Op::Var                ? test::Tol{test::default_tol(t).rtol * 2, 0}
                                                       : test::Tol{test::default_tol(t).rtol, 0};
  EXPECT_TRUE(close_to(y, g.out_shape, ref, tol, atol)) << ctx;
}

// Inputs: uniform in [-1, 1.1) for floats (a float16 sum of 2^20 of them stays finite) (a coarse grid for max/min so
// that ties occur), small integers otherwise.
Tensor input(Op op, const Shape& shape, DType t, std::mt19937& rng) {
  if ((op == Op::Max || op == Op::Min) && is_floating(t)) {
    std::uniform_int_distribution<int> d(-12, 12);
    std::vector<double> v(static_cast<size_t>(test::numel_of(shape)));
    for (auto& x : v) x = d(rng) / 4.0;
    return test::make(v, shape, t);
  }
  if (is_floating(t)) return test::random_tensor(shape, t, -1, 1.1, rng);
  return test::random_tensor(shape, t, t == DType::UInt8 ? 0 : -100, t == DType::UInt8 ? 255 : 100, rng);
}

std::vector<DType> dtypes_for(Op op) {
  if (op == Op::Mean || op == Op::Var) return test::floating_dtypes();
  return {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int32, DType::Int64, DType::UInt8};
}

TEST(Reduce, AllDimCombinationsLayoutsAndDtypes) {
  std::mt19937 rng(7);
  const std::vector<std::vector<int64_t>> dim_sets = {{0},    {1},    {2},    {-1},       {-3},
                                                      {0, 2}, {2, 0}, {1, 2}, {-1, 0, 1}, {}};
  for (Op op : {Op::Sum, Op::Mean, Op::Var, Op::Max, Op::Min}) {
    for (DType t : dtypes_for(op)) {
      const Tensor contig = input(op, {5, 7, 9}, t, rng);
      const Tensor permuted = input(op, {9, 5, 7}, t, rng).permute({1, 2, 0});  // [5, 7, 9]
      const Tensor sliced = input(op, {5, 14, 9}, t, rng).slice(1, 1, 14, 2);   // [5, 7, 9]
      const Tensor expanded = input(op, {5, 1, 9}, t, rng).expand({5, 7, 9});   // stride 0
      for (const auto& dims : dim_sets) {
        for (bool keepdim : {false, true}) {
          const bool minmax = op == Op::Max || op == Op::Min;
          if (minmax && dims.size() > 1) continue;  // max/min take one dim, or none
          if (minmax && dims.empty() && keepdim) continue;
          check_reduce(op, contig, dims, keepdim, "contiguous");
          check_reduce(op, permuted, dims, keepdim, "permuted");
          check_reduce(op, sliced, dims, keepdim, "sliced");
          check_reduce(op, expanded, dims, keepdim, "expanded");
        }
      }
    }
  }
}

TEST(Reduce, LargeAndOddSizes) {
  std::mt19937 rng(8);
  for (Op op : {Op::Sum, Op::Mean, Op::Var, Op::Max, Op::Min}) {
    for (DType t : dtypes_for(op)) {
      for (int64_t n : {1, 3, 17, 1000, 4097, 1 << 20}) {
        check_reduce(op, input(op, {n}, t, rng), {}, false, "n=" + std::to_string(n));
      }
      // Long rows, many rows; inner and outer reductions of a large matrix.
      const Tensor m = input(op, {257, 1031}, t, rng);
      check_reduce(op, m, {1}, false, "[257, 1031] inner");
      check_reduce(op, m, {0}, true, "[257, 1031] outer");
      check_reduce(op, m.t(), {1}, false, "[1031, 257] transposed inner");
    }
  }
}

TEST(Reduce, IntegerSumsAreInt64AndExact) {
  // 2000 values near 2^30 overflow int32 accumulation.
  std::vector<double> v(2000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = (1 << 30) + static_cast<double>(i);
  Tensor x = from_vector(v, {2000}, DType::Int32);
  Tensor s = sum(x);
  EXPECT_EQ(s.dtype(), DType::Int64);
  EXPECT_EQ(s.item<int64_t>(), int64_t{2000} * (1 << 30) + 1999 * 1000);
  Tensor u = full({1 << 16}, 255, DType::UInt8);
  EXPECT_EQ(sum(u).item<int64_t>(), int64_t{255} << 16);
  Tensor big = full({3}, Scalar((int64_t{1} << 53) + 1), DType::Int64);
  EXPECT_EQ(sum(big).item<int64_t>(), 3 * ((int64_t{1} << 53) + 1));
  EXPECT_THROW(mean(x), DTypeError);
  EXPECT_THROW(var(x), DTypeError);
  EXPECT_THROW(mean(ones({2}, DType::UInt8)), DTypeError);
}

TEST(Reduce, VarCorrection) {
  Tensor x = from_vector({1, 2, 3, 4}, {4}, DType::Float64);
  EXPECT_DOUBLE_EQ(var(x).item<double>(), 5.0 / 3);
  EXPECT_DOUBLE_EQ(var(x, {}, 0).item<double>(), 1.25);
  EXPECT_DOUBLE_EQ(var(x, {0}, 2).item<double>(), 2.5);
  EXPECT_TRUE(std::isnan(var(from_vector({3}, {1}, DType::Float32)).item<double>()));  // 0 / 0
  // Large offset: a one-pass sum-of-squares formula loses everything here.
  std::vector<double> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 1e4 + (i % 2 ? 1.0 : -1.0);
  EXPECT_NEAR(var(from_vector(v, {1000}, DType::Float32), {}, 0).item<double>(), 1.0, 1e-3);
  EXPECT_THROW(var(x, {}, -1), ValueError);
}

TEST(Reduce, NaNPropagation) {
  for (DType t : test::floating_dtypes()) {
    Tensor x = from_vector({1, NAN, 5, 7, 2, 9, NAN, NAN, 0}, {3, 3}, t);
    EXPECT_TRUE(std::isnan(max(x).item<double>())) << dtype_name(t);
    EXPECT_TRUE(std::isnan(min(x).item<double>())) << dtype_name(t);
    EXPECT_TRUE(std::isnan(sum(x).item<double>())) << dtype_name(t);
    auto [mv, mi] = max(x, 1);
    EXPECT_TRUE(equals(mv, {3}, {NAN, 9, NAN})) << dtype_name(t);
    EXPECT_TRUE(equals(mi, {3}, {1, 2, 0})) << dtype_name(t);
    auto [nv, ni] = min(x, 0);
    EXPECT_TRUE(equals(nv, {3}, {NAN, NAN, 0})) << dtype_name(t);
    EXPECT_TRUE(equals(ni, {3}, {2, 0, 2})) << dtype_name(t);
    EXPECT_EQ(argmax(x).item<int64_t>(), 1) << dtype_name(t);
    // A NaN deep inside a long row, where vector code would lose it.
    std::vector<double> v(5000, 1.0);
    v[4321] = NAN;
    v[10] = 3.0;
    Tensor y = from_vector(v, {5000}, t);
    EXPECT_TRUE(std::isnan(max(y).item<double>())) << dtype_name(t);
    EXPECT_TRUE(std::isnan(min(y).item<double>())) << dtype_name(t);
    EXPECT_EQ(argmax(y).item<int64_t>(), 4321) << dtype_name(t);
    EXPECT_EQ(argmin(y).item<int64_t>(), 4321) << dtype_name(t);
  }
}

TEST(Reduce, FirstIndexWinsTies) {
  for (DType t : {DType::Float32, DType::Float16, DType::Int32, DType::UInt8}) {
    Tensor x = from_vector({1, 3, 3, 2, 5, 5, 5, 5}, {2, 4}, t);
    EXPECT_TRUE(equals(argmax(x, 1), {2}, {1, 0})) << dtype_name(t);
    EXPECT_TRUE(equals(argmin(x, 1), {2}, {0, 0})) << dtype_name(t);
    EXPECT_TRUE(equals(argmax(x, 0), {4}, {1, 1, 1, 1})) << dtype_name(t);
    EXPECT_TRUE(equals(argmax(x, 0, true), {1, 4}, {1, 1, 1, 1})) << dtype_name(t);
    EXPECT_EQ(argmax(x).item<int64_t>(), 4) << dtype_name(t);
    EXPECT_EQ(argmin(x).item<int64_t>(), 0) << dtype_name(t);
    EXPECT_EQ(argmax(x).dim(), 0);
    // Long constant rows: the answer is 0, whatever the vector width.
    Tensor c = full({3, 3000}, 2, t);
    EXPECT_TRUE(equals(argmax(c, 1), {3}, {0, 0, 0})) << dtype_name(t);
    EXPECT_TRUE(equals(argmin(c, -1), {3}, {0, 0, 0})) << dtype_name(t);
    // Flattened argmax of a non-contiguous tensor counts in logical order.
    Tensor p = from_vector({0, 1, 9, 3, 9, 2}, {2, 3}, t).t();  // [[0, 3], [1, 9], [9, 2]]
    EXPECT_EQ(argmax(p).item<int64_t>(), 3) << dtype_name(t);
  }
}

TEST(Reduce, EmptyReductions) {
  Tensor e = zeros({0, 4});
  EXPECT_TRUE(equals(sum(e, {0}), {4}, {0, 0, 0, 0}));
  EXPECT_TRUE(equals(sum(e), {}, {0}));
  EXPECT_TRUE(equals(sum(e, {0}, true), {1, 4}, {0, 0, 0, 0}));
  EXPECT_TRUE(equals(sum(e, {1}), {0}, {}));
  EXPECT_TRUE(equals(sum(zeros({0}, DType::Int32)), {}, {0}));
  EXPECT_EQ(sum(zeros({0}, DType::Int32)).dtype(), DType::Int64);
  EXPECT_TRUE(equals(mean(e, {0}), {4}, {NAN, NAN, NAN, NAN}));
  EXPECT_TRUE(std::isnan(mean(e).item<double>()));
  EXPECT_THROW(max(e), ValueError);
  EXPECT_THROW(min(e), ValueError);
  EXPECT_THROW(max(e, 0), ValueError);
  EXPECT_THROW(argmin(e, 0), ValueError);
  EXPECT_THROW(argmax(e), ValueError);
  auto [v, i] = max(e, 1);  // reducing a non-empty dim of an empty tensor is fine
  EXPECT_EQ(v.shape(), (Shape{0}));
  EXPECT_EQ(i.shape(), (Shape{0}));
}

TEST(Reduce, ZeroDimInput) {
  Tensor s = full({}, 3.5, DType::Float64);
  EXPECT_TRUE(equals(sum(s), {}, {3.5}));
  EXPECT_TRUE(equals(max(s), {}, {3.5}));
  EXPECT_TRUE(equals(mean(s), {}, {3.5}));
  auto [v, i] = max(s, 0);
  EXPECT_EQ(v.item<double>(), 3.5);
  EXPECT_EQ(i.item<int64_t>(), 0);
}

TEST(Reduce, BadDims) {
  Tensor x = zeros({2, 3, 4});
  EXPECT_THROW(sum(x, {3}), IndexError);
  EXPECT_THROW(sum(x, {-4}), IndexError);
  EXPECT_THROW(mean(x, {0, 5}), IndexError);
  EXPECT_THROW(max(x, 3), IndexError);
  EXPECT_THROW(argmin(x, -4), IndexError);
  EXPECT_THROW(sum(x, {1, 1}), ValueError);
  EXPECT_THROW(var(x, {0, -3}), ValueError);
  EXPECT_THROW(sum(Tensor()), Error);
}

}  // namespace
}  // namespace iccrt
