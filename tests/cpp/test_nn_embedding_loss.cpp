// embedding (forward gather, backward scatter-add) and fused cross-entropy against float64 references written
// here: repeated indices, padding_idx, int32 indices, ignored rows, label smoothing, every reduction, the [C]
// form, non-contiguous inputs, all floating dtypes, finite differences, and out-of-range indices and targets.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "iccrt/core/error.hpp"
#include "iccrt/ops/nn.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

using ops::CrossEntropyResult;
using test::bound;
using test::close_to;
using test::eps_of;
using test::floating_dtypes;
using test::random_tensor;
using test::to_host;



Tensor index_tensor(const std::vector<int64_t>& v, const Shape& shape, DType t) {
  std::vector<double> d(v.begin(), v.end());
  return from_vector(d, shape, TensorOptions(t));
}

// ---- embedding ----

TEST(NnEmbedding, ForwardGathersRows) {
  std::mt19937 rng(1);
  for (DType t : floating_dtypes()) {
    for (DType it : {DType::Int64, DType::Int32}) {
      for (bool transposed : {false, true}) {
        const int64_t num = 11, dim = 33;
        const Tensor w =
            transposed ? random_tensor({dim, num}, t, -1, 1, rng).t() : random_tensor({num, dim}, t, -1, 1, rng);
        const auto wv = to_host(w);
        const std::vector<int64_t> idx = {3, 0, 10, 3, 3, 7, 1, 0};  // repeats, first and last rows
        const Tensor i = index_tensor(idx, {2, 4}, it);
        const Tensor out = ops::embedding(w, i);
        std::vector<double> ref;
        for (int64_t k : idx)
          for (int64_t j = 0; j < dim; ++j) ref.push_back(wv[static_cast<size_t>(k * dim + j)]);
        EXPECT_TRUE(test::equals(out, {2, 4, dim}, ref)) << dtype_name(t) << " " << dtype_name(it);
      }
    }
  }
}

TEST(NnEmbedding, BackwardScatterAddsRepeatedIndices) {
  std::mt19937 rng(2);
  for (DType t : floating_dtypes()) {
    for (DType it : {DType::Int64, DType::Int32}) {
      for (int64_t padding : {int64_t{-1}, int64_t{3}}) {
        const int64_t num = 9, dim = 130, n = 600;  // n * dim large enough to split the columns over threads
        std::uniform_int_distribution<int64_t> pick(0, num - 1);
        std::vector<int64_t> idx(static_cast<size_t>(n));
        for (auto& k : idx) k = pick(rng);
        idx[0] = idx[1] = idx[2] = 5;
        const Tensor i = index_tensor(idx, {30, 20}, it);
        // A non-contiguous gradient: every other column of a wider one.
        const Tensor g = random_tensor({30, 20, 2 * dim}, t, -1, 1, rng).slice(2, 0, 2 * dim, 2);
        const auto gv = to_host(g);
        std::vector<double> ref(static_cast<size_t>(num * dim), 0.0), scale(ref.size(), 0.0);
        for (int64_t r = 0; r < n; ++r) {
          if (idx[r] == padding) continue;
          for (int64_t j = 0; j < dim; ++j) {
            ref[static_cast<size_t>(idx[r] * dim + j)] += gv[static_cast<size_t>(r * dim + j)];
            scale[static_cast<size_t>(idx[r] * dim + j)] += std::fabs(gv[static_cast<size_t>(r * dim + j)]);
          }
        }
        const Tensor gw = ops::embedding_backward(g, i, num, padding);
        EXPECT_EQ(gw.dtype(), t);
        // float32 accumulates 16-bit and float32 gradients: one rounding of the result, plus float sums.
        const DType acc = t == DType::Float64 ? DType::Float64 : DType::Float32;
        std::vector<double> tol(scale.size());
        for (size_t k = 0; k < scale.size(); ++k)
          tol[k] = 4 * eps_of(acc) * scale[k] + 2 * eps_of(t) * std::fabs(ref[k]) + 1e-300;
        EXPECT_TRUE(close_to(gw, {num, dim}, ref, {0.0, 0.0}, tol)) << dtype_name(t) << " padding " << padding;
        if (padding >= 0) {
          for (int64_t j = 0; j < dim; ++j) EXPECT_EQ(gw.get({padding, j}), 0.0);
        }
      }
    }
  }
}

TEST(NnEmbedding, OutOfRangeIndexRaisesIndexError) {
  const Tensor w = ones({5, 4});
  for (DType it : {DType::Int64, DType::Int32}) {
    try {
      ops::embedding(w, index_tensor({0, 5, 2}, {3}, it));
      ADD_FAILURE() << "expected IndexError";
    } catch (const IndexError& e) {
      EXPECT_NE(std::string(e.what()).find("index 5"), std::string::npos) << e.what();
    }
    EXPECT_THROW(ops::embedding(w, index_tensor({-1, 2}, {2}, it)), IndexError);
    EXPECT_THROW(ops::embedding_backward(ones({2, 4}), index_tensor({1, 9}, {2}, it), 5), IndexError);
  }
  EXPECT_THROW(ops::embedding(w, ones({2}, DType::Float32)), DTypeError);
  EXPECT_THROW(ops::embedding(ones({5}), index_tensor({0}, {1}, DType::Int64)), ShapeError);
  EXPECT_THROW(ops::embedding_backward(ones({3, 4}), index_tensor({0, 1}, {2}, DType::Int64), 5), ShapeError);
  EXPECT_THROW(ops::embedding_backward(ones({2, 4}), index_tensor({0, 1}, {2}, DType::Int64), 5, 5), ValueError);
  EXPECT_EQ(ops::embedding(w, index_tensor({}, {0}, DType::Int64)).shape(), (Shape{0, 4}));
}

// ---- cross-entropy ----

struct CeRef {
  std::vector<double> row_loss, lse, row_scale;  // row_scale: error scale of the row loss
};

CeRef ref_ce(const std::vector<double>& x, const std::vector<int64_t>& t, int64_t n, int64_t c, int64_t ignore,
             double ls) {
  CeRef r;
  for (int64_t i = 0; i < n; ++i) {
    const double* xr = &x[static_cast<size_t>(i * c)];
    double m = -INFINITY, s = 0, sum = 0, mag = 0;
    for (int64_t j = 0; j < c; ++j) m = std::max(m, xr[j]);
    for (int64_t j = 0; j < c; ++j) {
      s += std::exp(xr[j] - m);
      sum += xr[j];
      mag += std::fabs(xr[j]);
    }
    const double lse = m + std::log(s);
    r.lse.push_back(lse);
    const bool ignored = t[i] == ignore;
    r.row_loss.push_back(ignored ? 0.0 : lse - (1 - ls) * xr[t[i]] - ls / static_cast<double>(c) * sum);
    r.row_scale.push_back(std::fabs(lse) + std::fabs(xr[ignored ? 0 : t[i]]) + ls * mag / static_cast<double>(c));
  }
  return r;
}

// d loss_row / d x_j = softmax_j - q_j (0 for ignored rows), times the row's weight in the reduction.
std::vector<double> ref_ce_grad(const std::vector<double>& x, const std::vector<int64_t>& t, const CeRef& f,
                                const std::vector<double>& row_w, int64_t n, int64_t c, int64_t ignore, double ls) {
  std::vector<double> g(x.size(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    if (t[i] == ignore) continue;
    for (int64_t j = 0; j < c; ++j) {
      const size_t k = static_cast<size_t>(i * c + j);
      g[k] = row_w[i] * (std::exp(x[k] - f.lse[i]) - ls / static_cast<double>(c) - (j == t[i] ? 1 - ls : 0.0));
    }
  }
  return g;
}

struct CeCase {
  int64_t n, c;
  bool transposed;
};

TEST(NnCrossEntropy, MatchesReferenceForEveryReduction) {
  const std::vector<CeCase> cases = {{7, 33, false}, {5, 1, false}, {3, 1000, false}, {9, 17, true}, {64, 50, false}};
  const int64_t ignore = -100;
  std::mt19937 rng(4);
  for (DType t : floating_dtypes()) {
    for (const auto& cs : cases) {
      for (double ls : {0.0, 0.1, 1.0}) {
        for (const std::string red : {"mean", "sum", "none"}) {
          SCOPED_TRACE(::testing::Message()
                       << dtype_name(t) << " n " << cs.n << " c " << cs.c << " ls " << ls << " " << red);
          const Tensor x = cs.transposed ? random_tensor({cs.c, cs.n}, t, -5, 5, rng).t()
                                         : random_tensor({cs.n, cs.c}, t, -5, 5, rng);
          const auto xv = to_host(x);
          std::uniform_int_distribution<int64_t> pick(0, cs.c - 1);
          std::vector<int64_t> tv(static_cast<size_t>(cs.n));
          for (auto& k : tv) k = pick(rng);
          if (cs.n > 2) tv[1] = ignore;  // an ignored row
          const Tensor target = index_tensor(tv, {cs.n}, DType::Int64);
          const CrossEntropyResult res = ops::cross_entropy(x, target, ignore, ls, red);
          const CeRef ref = ref_ce(xv, tv, cs.n, cs.c, ignore, ls);
          const DType sd = t == DType::Float64 ? DType::Float64 : DType::Float32;
          EXPECT_EQ(res.lse.dtype(), sd);
          EXPECT_TRUE(
              close_to(res.lse, {cs.n}, ref.lse, {0.0, 0.0}, bound(sd, std::vector<double>(ref.lse.size(), 16.0))));
          int64_t count = 0;
          double total = 0, total_scale = 0;
          for (int64_t i = 0; i < cs.n; ++i) {
            count += tv[i] != ignore;
            total += ref.row_loss[i];
            total_scale += ref.row_scale[i];
          }
          EXPECT_EQ(res.loss.dtype(), t);
          if (red == "none") {
            EXPECT_TRUE(close_to(res.loss, {cs.n}, ref.row_loss, {2 * eps_of(t), 0.0}, bound(sd, ref.row_scale)));
          } else {
            const double v = red == "sum" ? total : total / static_cast<double>(count);
            const double sc = red == "sum" ? total_scale : total_scale / static_cast<double>(count);
            EXPECT_TRUE(close_to(res.loss, {}, {v}, {2 * eps_of(t), 8 * eps_of(sd) * sc}));
          }

          // Backward with a non-trivial upstream gradient.
          std::vector<double> row_w(static_cast<size_t>(cs.n));
          Tensor gl;
          if (red == "none") {
            gl = random_tensor({cs.n}, t, 0.5, 2.0, rng, &row_w);
          } else {
            std::vector<double> g1;
            gl = random_tensor({}, t, 0.5, 2.0, rng, &g1);
            for (auto& w : row_w) w = red == "sum" ? g1[0] : g1[0] / static_cast<double>(count);
          }
          const Tensor gx = ops::cross_entropy_backward(gl, x, target, res.lse, ignore, ls, red);
          const auto gref = ref_ce_grad(xv, tv, ref, row_w, cs.n, cs.c, ignore, ls);
          // softmax_j = exp(x_j - lse) with lse rounded to the stat dtype: relative error ~ (1 + |x_j| + |lse|) eps.
          std::vector<double> gscale(gref.size());
          for (size_t k = 0; k < gref.size(); ++k) {
            const size_t i = k / static_cast<size_t>(cs.c);
            const double p = std::exp(xv[k] - ref.lse[i]);
            gscale[k] = std::fabs(row_w[i]) *
                        (p * (1 + std::fabs(xv[k]) + std::fabs(ref.lse[i])) + ls / static_cast<double>(cs.c) + 1 - ls);
          }
          EXPECT_TRUE(close_to(gx, {cs.n, cs.c}, gref, {0.0, 0.0}, bound(t, gscale)));
          if (cs.n > 2) {
            for (int64_t j = 0; j < cs.c; ++j) EXPECT_EQ(gx.get({1, j}), 0.0);
          }
        }
      }
    }
  }
}

TEST(NnCrossEntropy, AllIgnoredMeanIsNaN) {
  const Tensor x = ones({3, 4});
  const Tensor t = index_tensor({-100, -100, -100}, {3}, DType::Int64);
  const auto r = ops::cross_entropy(x, t);
  EXPECT_TRUE(std::isnan(r.loss.item<double>()));
  EXPECT_EQ(ops::cross_entropy(x, t, -100, 0.0, "sum").loss.item<double>(), 0.0);
  const Tensor gx = ops::cross_entropy_backward(ones({}), x, t, r.lse);
  EXPECT_TRUE(test::equals(gx, {3, 4}, std::vector<double>(12, 0.0)));
}

TEST(NnCrossEntropy, CustomIgnoreIndexAndSingleRow) {
  std::mt19937 rng(6);
  std::vector<double> xv;
  const Tensor x = random_tensor({4, 6}, DType::Float64, -3, 3, rng, &xv);
  const std::vector<int64_t> tv = {2, 0, 5, 0};
  const Tensor t = index_tensor(tv, {4}, DType::Int64);
  const CeRef ref = ref_ce(xv, tv, 4, 6, 0, 0.0);  // ignore_index 0 drops rows 1 and 3
  const auto r = ops::cross_entropy(x, t, 0, 0.0, "mean");
  EXPECT_NEAR(r.loss.item<double>(), (ref.row_loss[0] + ref.row_loss[2]) / 2, 1e-12);

  // [C] logits with a 0-d target: one row; loss and lse 0-d.
  const Tensor x1 = x.select(0, 2);
  const Tensor t1 = index_tensor({5}, {}, DType::Int64);
  const auto r1 = ops::cross_entropy(x1, t1, -100, 0.2, "none");
  const CeRef ref1 = ref_ce(std::vector<double>(xv.begin() + 12, xv.begin() + 18), {5}, 1, 6, -100, 0.2);
  EXPECT_EQ(r1.loss.shape(), Shape{});
  EXPECT_EQ(r1.lse.shape(), Shape{});
  EXPECT_NEAR(r1.loss.item<double>(), ref1.row_loss[0], 1e-12);
  const Tensor g1 = ops::cross_entropy_backward(ones({}, DType::Float64), x1, t1, r1.lse, -100, 0.2, "none");
  EXPECT_TRUE(close_to(
      g1, {6}, ref_ce_grad(std::vector<double>(xv.begin() + 12, xv.begin() + 18), {5}, ref1, {1.0}, 1, 6, -100, 0.2),
      {1e-12, 1e-14}));
}

TEST(NnCrossEntropy, BackwardMatchesFiniteDifferences) {
  std::mt19937 rng(8);
  const int64_t n = 4, c = 5;
  std::vector<double> xv;
  const Tensor x = random_tensor({n, c}, DType::Float64, -2, 2, rng, &xv);
  const std::vector<int64_t> tv = {1, -100, 4, 0};
  const Tensor t = index_tensor(tv, {n}, DType::Int64);
  for (const std::string red : {"mean", "sum"}) {
    const double ls = 0.15;
    const auto r = ops::cross_entropy(x, t, -100, ls, red);
    const Tensor gx = ops::cross_entropy_backward(ones({}, DType::Float64), x, t, r.lse, -100, ls, red);
    std::vector<double> num(xv.size());
    std::vector<double> xp = xv;
    const double h = 1e-6;
    auto loss = [&](const std::vector<double>& v) {
      const CeRef f = ref_ce(v, tv, n, c, -100, ls);
      double s = 0;
      for (double l : f.row_loss) s += l;
      return red == "sum" ? s : s / 3.0;
    };
    for (size_t k = 0; k < xv.size(); ++k) {
      xp[k] = xv[k] + h;
      const double lp = loss(xp);
      xp[k] = xv[k] - h;
      const double lm = loss(xp);
      xp[k] = xv[k];
      num[k] = (lp - lm) / (2 * h);
    }
    EXPECT_TRUE(close_to(gx, {n, c}, num, {1e-6, 1e-9})) << red;
  }
}

TEST(NnCrossEntropy, BadInputs) {
  const Tensor x = ones({3, 4});
  const Tensor t = index_tensor({0, 1, 2}, {3}, DType::Int64);
  try {
    ops::cross_entropy(x, index_tensor({0, 4, 1}, {3}, DType::Int64));
    ADD_FAILURE() << "expected IndexError";
  } catch (const IndexError& e) {
    EXPECT_NE(std::string(e.what()).find("target 4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ops::cross_entropy(x, index_tensor({0, -1, 1}, {3}, DType::Int64)), IndexError);
  EXPECT_THROW(ops::cross_entropy(x, index_tensor({0, 1, 2}, {3}, DType::Int32)), DTypeError);
  EXPECT_THROW(ops::cross_entropy(x, index_tensor({0, 1}, {2}, DType::Int64)), ShapeError);
  EXPECT_THROW(ops::cross_entropy(ones({2, 3, 4}), t), ShapeError);
  EXPECT_THROW(ops::cross_entropy(x, t, -100, 0.0, "avg"), ValueError);
  EXPECT_THROW(ops::cross_entropy(x, t, -100, 1.5), ValueError);
  EXPECT_THROW(ops::cross_entropy(x, t, -100, -0.1), ValueError);
  EXPECT_THROW(ops::cross_entropy(ones({3, 4}, DType::Int64), t), DTypeError);
  const auto r = ops::cross_entropy(x, t);
  EXPECT_THROW(ops::cross_entropy_backward(ones({3}), x, t, r.lse), ShapeError);
  EXPECT_THROW(ops::cross_entropy_backward(ones({}), x, t, ones({2})), ShapeError);
  EXPECT_THROW(ops::cross_entropy_backward(ones({}, DType::Float64), x, t, r.lse), DTypeError);
}

}  // namespace
}  // namespace iccrt
