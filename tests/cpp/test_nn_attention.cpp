// ops::scaled_dot_product_attention and its backward against a float64 reference that builds the whole score
// matrix and differentiates the softmax analytically; the float64 backward also against finite differences.
#include <gtest/gtest.h>

#include <algorithm>
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

struct Case {
  Shape lead;
  int64_t tq, tk, d, dv;
};

// Reference results for values laid out row-major as [batch, t, dim].
struct Ref {
  std::vector<double> out, lse, gq, gk, gv;
};

Ref reference(const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v,
              const std::vector<double>& go, int64_t batch, int64_t tq, int64_t tk, int64_t d, int64_t dv, bool causal,
              double scale) {
  Ref r;
  r.out.assign(batch * tq * dv, 0.0);
  r.lse.assign(batch * tq, -std::numeric_limits<double>::infinity());
  r.gq.assign(batch * tq * d, 0.0);
  r.gk.assign(batch * tk * d, 0.0);
  r.gv.assign(batch * tk * dv, 0.0);
  std::vector<double> p(tk), dp(tk);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < tq; ++i) {
      const int64_t seen = causal ? std::clamp<int64_t>(i + tk - tq + 1, 0, tk) : tk;
      if (seen == 0) continue;
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < seen; ++j) {
        double s = 0;
        for (int64_t c = 0; c < d; ++c) s += q[(b * tq + i) * d + c] * k[(b * tk + j) * d + c];
        p[j] = s * scale;
        mx = std::max(mx, p[j]);
      }
      double sum = 0;
      for (int64_t j = 0; j < seen; ++j) sum += std::exp(p[j] - mx);
      r.lse[b * tq + i] = mx + std::log(sum);
      for (int64_t j = 0; j < seen; ++j) p[j] = std::exp(p[j] - mx) / sum;
      for (int64_t c = 0; c < dv; ++c) {
        double o = 0;
        for (int64_t j = 0; j < seen; ++j) o += p[j] * v[(b * tk + j) * dv + c];
        r.out[(b * tq + i) * dv + c] = o;
      }
      // dP = dO V^T; dS = P (dP - sum_j P dP); dQ = scale dS K; dK = scale dS^T Q; dV = P^T dO.
      double pdp = 0;
      for (int64_t j = 0; j < seen; ++j) {
        double s = 0;
        for (int64_t c = 0; c < dv; ++c) s += go[(b * tq + i) * dv + c] * v[(b * tk + j) * dv + c];
        dp[j] = s;
        pdp += p[j] * s;
      }
      for (int64_t j = 0; j < seen; ++j) {
        const double ds = p[j] * (dp[j] - pdp) * scale;
        for (int64_t c = 0; c < d; ++c) {
          r.gq[(b * tq + i) * d + c] += ds * k[(b * tk + j) * d + c];
          r.gk[(b * tk + j) * d + c] += ds * q[(b * tq + i) * d + c];
        }
        for (int64_t c = 0; c < dv; ++c) r.gv[(b * tk + j) * dv + c] += p[j] * go[(b * tq + i) * dv + c];
      }
    }
  }
  return r;
}

// Error allowed, as a fraction of the largest reference magnitude (and of each element's own). Inputs are O(1),
// so gradient terms are too: a gradient that cancels to 0 (a single visible key) is held to that scale.
double frac_tol(DType t) {
  switch (t) {
    case DType::Float64:
      return 1e-11;
    case DType::Float32:
      return 5e-5;
    case DType::Float16:
      return 3e-3;
    default:
      return 3e-2;
  }
}

::testing::AssertionResult matches(const Tensor& got, const Shape& shape, const std::vector<double>& ref, double f) {
  double mx = 1;
  for (double x : ref)
    if (std::isfinite(x)) mx = std::max(mx, std::fabs(x));
  return test::close_to(got, shape, ref, test::Tol{f, f * mx});
}

Shape tail(Shape s, std::initializer_list<int64_t> t) {
  s.insert(s.end(), t);
  return s;
}

// Runs forward and backward on q, k, v (any layout) and checks every result against the reference.
void check(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& go, bool causal, double scale_arg) {
  const int64_t tq = q.size(-2), tk = k.size(-2), d = q.size(-1), dv = v.size(-1);
  const Shape lead(q.shape().begin(), q.shape().end() - 2);
  const int64_t batch = test::numel_of(lead);
  const double scale = scale_arg > 0 ? scale_arg : 1.0 / std::sqrt(static_cast<double>(d));
  const Ref r = reference(to_host(q), to_host(k), to_host(v), to_host(go), batch, tq, tk, d, dv, causal, scale);
  const DType t = q.dtype(), stat = t == DType::Float64 ? DType::Float64 : DType::Float32;
  const double f = frac_tol(t);
  SCOPED_TRACE(::testing::Message() << "dtype " << dtype_name(t) << " lead " << test::shape_str(lead) << " tq " << tq
                                    << " tk " << tk << " d " << d << " dv " << dv << " causal " << causal);

  const auto res = ops::scaled_dot_product_attention(q, k, v, causal, scale_arg);
  EXPECT_EQ(res.out.dtype(), t);
  EXPECT_EQ(res.lse.dtype(), stat);
  EXPECT_TRUE(matches(res.out, tail(lead, {tq, dv}), r.out, f));
  EXPECT_TRUE(matches(res.lse, tail(lead, {tq}), r.lse, t == DType::Float64 ? 1e-12 : 2e-6));

  const auto g = ops::scaled_dot_product_attention_backward(go, q, k, v, res.out, res.lse, causal, scale_arg);
  EXPECT_EQ(g.grad_q.dtype(), t);
  EXPECT_TRUE(matches(g.grad_q, q.shape(), r.gq, f)) << "grad_q";
  EXPECT_TRUE(matches(g.grad_k, k.shape(), r.gk, f)) << "grad_k";
  EXPECT_TRUE(matches(g.grad_v, v.shape(), r.gv, f)) << "grad_v";
}

void check_case(const Case& c, DType t, bool causal, std::mt19937& rng, double scale = 0.0) {
  const Tensor q = test::random_tensor(tail(c.lead, {c.tq, c.d}), t, -1.5, 1.5, rng);
  const Tensor k = test::random_tensor(tail(c.lead, {c.tk, c.d}), t, -1.5, 1.5, rng);
  const Tensor v = test::random_tensor(tail(c.lead, {c.tk, c.dv}), t, -1.0, 1.0, rng);
  const Tensor go = test::random_tensor(tail(c.lead, {c.tq, c.dv}), t, -1.0, 1.0, rng);
  check(q, k, v, go, causal, scale);
}

TEST(NnAttention, ShapesAndBlockEdges) {
  std::mt19937 rng(11);
  // Sizes around the 64-row blocks, Tq != Tk (both ways: with tq > tk causal, early queries see no key),
  // D != Dv, odd head sizes, no leading dims.
  const std::vector<Case> cases = {{{2, 3}, 1, 1, 8, 8},       {{2, 3}, 7, 7, 16, 16}, {{2, 3}, 65, 65, 32, 24},
                                   {{1, 2}, 130, 130, 64, 64}, {{2}, 5, 70, 16, 8},    {{2}, 70, 33, 8, 17},
                                   {{3}, 64, 64, 64, 64},      {{}, 13, 9, 5, 3},      {{2, 1}, 129, 200, 9, 40},
                                   {{1, 2}, 256, 256, 64, 64}};  // the last: a GPT head
  for (const auto& c : cases)
    for (bool causal : {false, true})
      for (DType t : {DType::Float32, DType::Float64}) check_case(c, t, causal, rng);
}

TEST(NnAttention, AllFloatingDtypes) {
  std::mt19937 rng(12);
  for (DType t : test::floating_dtypes())
    for (bool causal : {false, true}) check_case({{2, 2}, 70, 70, 32, 32}, t, causal, rng);
}

TEST(NnAttention, ExplicitScale) {
  std::mt19937 rng(13);
  check_case({{2}, 33, 40, 16, 16}, DType::Float32, true, rng, 0.3);
  check_case({{2}, 33, 40, 16, 16}, DType::Float64, false, rng, 2.5);
  // The default is 1/sqrt(D).
  const Tensor q = test::random_tensor({2, 9, 16}, DType::Float64, -1, 1, rng);
  const Tensor k = test::random_tensor({2, 11, 16}, DType::Float64, -1, 1, rng);
  const Tensor v = test::random_tensor({2, 11, 4}, DType::Float64, -1, 1, rng);
  const auto a = ops::scaled_dot_product_attention(q, k, v, false, 0.0);
  const auto b = ops::scaled_dot_product_attention(q, k, v, false, 0.25);
  EXPECT_TRUE(test::equals(a.out, {2, 9, 4}, to_host(b.out)));
}

TEST(NnAttention, NonContiguousViews) {
  std::mt19937 rng(14);
  const int64_t B = 2, T = 67, H = 3, D = 16;
  for (DType t : {DType::Float32, DType::BFloat16}) {
    // q, k, v as the [B, H, T, D] transposes of a GPT block's [B, T, H, D] projections; grad_out likewise.
    const Tensor q = test::random_tensor({B, T, H, D}, t, -1, 1, rng).transpose(1, 2);
    const Tensor k = test::random_tensor({B, T, H, D}, t, -1, 1, rng).transpose(1, 2);
    const Tensor v = test::random_tensor({B, T, H, 2 * D}, t, -1, 1, rng).transpose(1, 2).slice(3, 0, 2 * D, 2);
    const Tensor go = test::random_tensor({B, T, H, D}, t, -1, 1, rng).transpose(1, 2);
    ASSERT_FALSE(q.is_contiguous());
    ASSERT_FALSE(v.is_contiguous());
    for (bool causal : {false, true}) check(q, k, v, go, causal, 0.0);
  }
}

TEST(NnAttention, LargeScoresStayFinite) {
  // Scores of several hundred: a softmax without the running max would overflow float.
  std::mt19937 rng(15);
  const Tensor q = test::random_tensor({2, 100, 64}, DType::Float32, -4, 4, rng);
  const Tensor k = test::random_tensor({2, 90, 64}, DType::Float32, -4, 4, rng);
  const Tensor v = test::random_tensor({2, 90, 8}, DType::Float32, -1, 1, rng);
  const Tensor go = test::random_tensor({2, 100, 8}, DType::Float32, -1, 1, rng);
  for (bool causal : {false, true}) check(q, k, v, go, causal, 1.0);
}

TEST(NnAttention, OneLongBatch) {
  // A single batch entry: the backward splits its key blocks across threads and sums partial dQ.
  std::mt19937 rng(16);
  for (bool causal : {false, true}) check_case({{1}, 300, 300, 24, 24}, DType::Float32, causal, rng);
  check_case({{1}, 150, 260, 8, 8}, DType::Float64, true, rng);
}

TEST(NnAttention, BackwardMatchesFiniteDifferences) {
  std::mt19937 rng(17);
  const Shape sq{1, 2, 5, 3}, sk{1, 2, 6, 3}, sv{1, 2, 6, 4}, so{1, 2, 5, 4};
  for (bool causal : {false, true}) {
    std::vector<double> qv, kv, vv, wv;
    const Tensor q = test::random_tensor(sq, DType::Float64, -1, 1, rng, &qv);
    const Tensor k = test::random_tensor(sk, DType::Float64, -1, 1, rng, &kv);
    const Tensor v = test::random_tensor(sv, DType::Float64, -1, 1, rng, &vv);
    const Tensor w = test::random_tensor(so, DType::Float64, -1, 1, rng, &wv);  // L = sum(w * out)
    const auto res = ops::scaled_dot_product_attention(q, k, v, causal, 0.0);
    const auto g = ops::scaled_dot_product_attention_backward(w, q, k, v, res.out, res.lse, causal, 0.0);
    auto loss = [&](const std::vector<double>& a, const std::vector<double>& b, const std::vector<double>& c) {
      const auto o = to_host(ops::scaled_dot_product_attention(test::make(a, sq, DType::Float64),
                                                               test::make(b, sk, DType::Float64),
                                                               test::make(c, sv, DType::Float64), causal, 0.0)
                                 .out);
      double s = 0;
      for (size_t i = 0; i < o.size(); ++i) s += o[i] * wv[i];
      return s;
    };
    const double h = 1e-6;
    auto numeric = [&](int which, const std::vector<double>& base) {
      std::vector<double> grad(base.size());
      for (size_t i = 0; i < base.size(); ++i) {
        std::vector<double> plus = base, minus = base;
        plus[i] += h;
        minus[i] -= h;
        const double lp = which == 0 ? loss(plus, kv, vv) : which == 1 ? loss(qv, plus, vv) : loss(qv, kv, plus);
        const double lm = which == 0 ? loss(minus, kv, vv) : which == 1 ? loss(qv, minus, vv) : loss(qv, kv, minus);
        grad[i] = (lp - lm) / (2 * h);
      }
      return grad;
    };
    EXPECT_TRUE(test::close_to(g.grad_q, sq, numeric(0, qv), test::Tol{1e-6, 1e-8}));
    EXPECT_TRUE(test::close_to(g.grad_k, sk, numeric(1, kv), test::Tol{1e-6, 1e-8}));
    EXPECT_TRUE(test::close_to(g.grad_v, sv, numeric(2, vv), test::Tol{1e-6, 1e-8}));
  }
}

TEST(NnAttention, EmptyAndKeylessInputs) {
  std::mt19937 rng(18);
  // No keys: every output is 0 and every lse -inf; gradients are zero.
  const Tensor q = test::random_tensor({2, 3, 4}, DType::Float32, -1, 1, rng);
  const Tensor k = empty({2, 0, 4}), v = empty({2, 0, 5});
  const auto res = ops::scaled_dot_product_attention(q, k, v, false, 0.0);
  EXPECT_TRUE(test::equals(res.out, {2, 3, 5}, std::vector<double>(30, 0.0)));
  EXPECT_TRUE(test::equals(res.lse, {2, 3}, std::vector<double>(6, -std::numeric_limits<double>::infinity())));
  const Tensor go = test::random_tensor({2, 3, 5}, DType::Float32, -1, 1, rng);
  const auto g = ops::scaled_dot_product_attention_backward(go, q, k, v, res.out, res.lse, false, 0.0);
  EXPECT_TRUE(test::equals(g.grad_q, {2, 3, 4}, std::vector<double>(24, 0.0)));
  EXPECT_EQ(g.grad_k.shape(), (Shape{2, 0, 4}));
  // No queries.
  const auto e =
      ops::scaled_dot_product_attention(empty({2, 0, 4}), test::random_tensor({2, 3, 4}, DType::Float32, -1, 1, rng),
                                        test::random_tensor({2, 3, 5}, DType::Float32, -1, 1, rng));
  EXPECT_EQ(e.out.shape(), (Shape{2, 0, 5}));
  EXPECT_EQ(e.lse.shape(), (Shape{2, 0}));
}

TEST(NnAttention, BadArgumentsRaiseTypedErrors) {
  const Tensor q = zeros({2, 4, 8}), k = zeros({2, 5, 8}), v = zeros({2, 5, 3});
  const auto fwd = [](const Tensor& a, const Tensor& b, const Tensor& c) {
    return ops::scaled_dot_product_attention(a, b, c);
  };
  EXPECT_THROW(fwd(zeros({2, 4, 8}, DType::Int64), k, v), DTypeError);
  EXPECT_THROW(fwd(q, zeros({2, 5, 8}, DType::Float64), v), DTypeError);
  EXPECT_THROW(fwd(zeros({8}), k, v), ShapeError);
  EXPECT_THROW(fwd(q, zeros({2, 5, 7}), v), ShapeError);  // head sizes differ
  EXPECT_THROW(fwd(q, zeros({3, 5, 8}), v), ShapeError);  // leading dims differ
  EXPECT_THROW(fwd(q, k, zeros({2, 6, 3})), ShapeError);  // value length differs from key's
  EXPECT_THROW(ops::scaled_dot_product_attention(q, k, v, false, std::nan("")), ValueError);
  EXPECT_THROW(fwd(q, k, Tensor()), Error);

  const auto res = ops::scaled_dot_product_attention(q, k, v);
  const Tensor go = zeros({2, 4, 3});
  using ops::scaled_dot_product_attention_backward;
  EXPECT_THROW(scaled_dot_product_attention_backward(go, q, k, v, res.out, res.lse.to(DType::Float64)), DTypeError);
  EXPECT_THROW(scaled_dot_product_attention_backward(go.to(DType::Float16), q, k, v, res.out, res.lse), DTypeError);
  EXPECT_THROW(scaled_dot_product_attention_backward(zeros({2, 4, 4}), q, k, v, res.out, res.lse), ShapeError);
  EXPECT_THROW(scaled_dot_product_attention_backward(go, q, k, v, res.out, zeros({2, 5})), ShapeError);
  EXPECT_THROW(scaled_dot_product_attention_backward(go, q, k, v, zeros({2, 4}), res.lse), ShapeError);
}

}  // namespace
}  // namespace iccrt
