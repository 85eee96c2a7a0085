// nn layers' forward against float64 references written here (Linear, Embedding, LayerNorm, RMSNorm, GELU,
// SiLU, Dropout, Conv2d, MaxPool2d, MultiheadAttention, Sequential) in every floating dtype, on non-contiguous
// inputs, with the parameters the modules initialised; default initialisation bounds and reproducibility.
// The module tree, state dicts and placement are in test_nn_module_tree.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "iccrt/autograd/grad_mode.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/nn/nn.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

using test::close_to;
using test::floating_dtypes;
using test::random_tensor;
using test::to_host;

using test::eps_of;

// Per-element bounds k * eps * scale[i] (+ float16's subnormal spacing): errors of a composite computation are
// proportional to the size of the terms that produced each result, not to the result.
std::vector<double> bounds(DType t, const std::vector<double>& scale, double k) {
  std::vector<double> a(scale.size());
  for (size_t i = 0; i < scale.size(); ++i) a[i] = k * eps_of(t) * scale[i] + 1e-7;
  return a;
}

// A random [rows, cols] input viewed through a transpose (non-contiguous), values in [-1, 1).
Tensor random_transposed(int64_t rows, int64_t cols, DType t, std::mt19937& rng) {
  return random_tensor({cols, rows}, t, -1.0, 1.0, rng).t();
}

TEST(NnModules, LinearForwardMatchesReference) {
  std::mt19937 rng(1);
  for (DType t : floating_dtypes()) {
    SCOPED_TRACE(dtype_name(t));
    Generator gen(7);
    for (bool with_bias : {true, false}) {
      nn::Linear lin(5, 3, with_bias, &gen, TensorOptions(t));
      ASSERT_EQ(lin.weight.shape(), (Shape{3, 5}));
      EXPECT_EQ(lin.bias.defined(), with_bias);
      const Tensor x = random_transposed(7, 5, t, rng);
      const auto xv = to_host(x), wv = to_host(lin.weight);
      const auto bv = with_bias ? to_host(lin.bias) : std::vector<double>(3, 0.0);
      std::vector<double> ref(21), scale(21);
      for (int i = 0; i < 7; ++i)
        for (int o = 0; o < 3; ++o) {
          double acc = bv[o], mag = std::fabs(bv[o]);
          for (int k = 0; k < 5; ++k) {
            acc += xv[i * 5 + k] * wv[o * 5 + k];
            mag += std::fabs(xv[i * 5 + k] * wv[o * 5 + k]);
          }
          ref[i * 3 + o] = acc;
          scale[i * 3 + o] = mag;
        }
      EXPECT_TRUE(close_to(lin.forward(x), {7, 3}, ref, {0.0, 0.0}, bounds(t, scale, 8)));
    }
  }
}

TEST(NnModules, LinearGradientsReachItsParameters) {
  Generator gen(3);
  nn::Linear lin(4, 2, true, &gen, TensorOptions(DType::Float64));
  std::mt19937 rng(2);
  const Tensor x = random_tensor({3, 4}, DType::Float64, -1, 1, rng);
  sum(lin.forward(x)).backward();
  // d sum(x W^T + b) / dW[o, k] = sum_i x[i, k];  / db[o] = rows.
  const auto xv = to_host(x);
  std::vector<double> gw(8);
  for (int o = 0; o < 2; ++o)
    for (int k = 0; k < 4; ++k) gw[o * 4 + k] = xv[k] + xv[4 + k] + xv[8 + k];
  EXPECT_TRUE(close_to(lin.weight.grad(), {2, 4}, gw, {1e-12, 1e-12}));
  EXPECT_TRUE(close_to(lin.bias.grad(), {2}, {3.0, 3.0}, {1e-12, 1e-12}));
}

TEST(NnModules, DefaultInitialisationBoundsAndReproducibility) {
  Generator g1(11), g2(11), g3(12);
  nn::Linear a(64, 300, true, &g1), b(64, 300, true, &g2), c(64, 300, true, &g3);
  const auto av = to_host(a.weight), bv = to_host(b.weight), cv = to_host(c.weight);
  EXPECT_EQ(av, bv);  // same seed, same parameters
  EXPECT_NE(av, cv);
  // Uniform on +-1/sqrt(64) = +-0.125: inside the bound, variance bound^2 / 3.
  double mean = 0, var = 0;
  for (double v : av) {
    EXPECT_LE(std::fabs(v), 0.125);
    mean += v;
  }
  mean /= static_cast<double>(av.size());
  for (double v : av) var += (v - mean) * (v - mean);
  var /= static_cast<double>(av.size());
  EXPECT_NEAR(mean, 0.0, 0.003);
  EXPECT_NEAR(var, 0.125 * 0.125 / 3, 0.0003);
  for (double v : to_host(a.bias)) EXPECT_LE(std::fabs(v), 0.125);

  nn::Embedding emb(500, 40, 3, &g1);
  const auto ev = to_host(emb.weight);
  double em = 0, ev2 = 0;
  for (double v : ev) em += v, ev2 += v * v;
  em /= static_cast<double>(ev.size());
  ev2 /= static_cast<double>(ev.size());
  EXPECT_NEAR(em, 0.0, 0.02);  // normal(0, 1)
  EXPECT_NEAR(ev2, 1.0, 0.03);
  for (int j = 0; j < 40; ++j) EXPECT_EQ(ev[3 * 40 + j], 0.0);  // the padding row

  nn::LayerNorm ln(Shape{6});
  EXPECT_EQ(to_host(ln.weight), std::vector<double>(6, 1.0));
  EXPECT_EQ(to_host(ln.bias), std::vector<double>(6, 0.0));

  nn::MultiheadAttention mha(16, 4, true, &g1);
  const double xavier = std::sqrt(6.0 / (16 + 48));
  for (double v : to_host(mha.in_proj_weight)) EXPECT_LE(std::fabs(v), xavier);
  EXPECT_EQ(to_host(mha.in_proj_bias), std::vector<double>(48, 0.0));
  EXPECT_EQ(to_host(mha.out_proj->bias), std::vector<double>(16, 0.0));
  for (double v : to_host(mha.out_proj->weight)) EXPECT_LE(std::fabs(v), 0.25);

  nn::Conv2d conv(4, 6, {3, 2}, {}, true, &g1);
  const double cb = 1.0 / std::sqrt(4.0 * 3 * 2);
  for (double v : to_host(conv.weight)) EXPECT_LE(std::fabs(v), cb);
  for (double v : to_host(conv.bias)) EXPECT_LE(std::fabs(v), cb);
}

TEST(NnInit, GainsFansAndFormulas) {
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("relu"), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("tanh"), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("leaky_relu", std::sqrt(5.0)), std::sqrt(1.0 / 3.0));
  EXPECT_THROW(nn::init::calculate_gain("swish"), ValueError);
  const auto fans = nn::init::calculate_fan_in_and_fan_out(empty({6, 4, 3, 2}));
  EXPECT_EQ(fans.first, 24);
  EXPECT_EQ(fans.second, 36);
  EXPECT_THROW(nn::init::calculate_fan_in_and_fan_out(empty({5})), ValueError);
  EXPECT_THROW(nn::init::zeros_(zeros({3}, DType::Int64)), DTypeError);

  Generator gen(5);
  Tensor w = empty({400, 100});
  w.set_requires_grad(true);  // init works on parameters (it runs under no_grad)
  nn::init::kaiming_normal_(w, 0.0, "fan_in", "relu", &gen);
  double s2 = 0;
  for (double v : to_host(w)) s2 += v * v;
  EXPECT_NEAR(s2 / 40000, 2.0 / 100, 0.001);  // std = sqrt(2) / sqrt(fan_in)
  nn::init::xavier_normal_(w, 2.0, &gen);
  s2 = 0;
  for (double v : to_host(w)) s2 += v * v;
  EXPECT_NEAR(s2 / 40000, 4.0 * 2.0 / 500, 0.0008);
  nn::init::kaiming_uniform_(w, 0.0, "fan_out", "relu", &gen);
  for (double v : to_host(w)) EXPECT_LE(std::fabs(v), std::sqrt(3.0) * std::sqrt(2.0 / 400));
  EXPECT_THROW(nn::init::kaiming_uniform_(w, 0.0, "fan_middle"), ValueError);
  // Views are initialised in place.
  nn::init::constant_(w.narrow(0, 1, 2), 0.5);
  EXPECT_EQ(w.get({2, 7}), 0.5);
  EXPECT_TRUE(w.requires_grad() && w.is_leaf());
}

TEST(NnModules, EmbeddingAndNormsMatchReference) {
  std::mt19937 rng(3);
  for (DType t : floating_dtypes()) {
    SCOPED_TRACE(dtype_name(t));
    Generator gen(1);
    nn::Embedding emb(9, 4, -1, &gen, TensorOptions(t));
    const Tensor idx = from_vector({8, 0, 3, 3, 5, 1}, {2, 3}, DType::Int64);
    const auto wv = to_host(emb.weight);
    std::vector<double> ref;
    for (double i : {8, 0, 3, 3, 5, 1})
      for (int j = 0; j < 4; ++j) ref.push_back(wv[static_cast<int>(i) * 4 + j]);
    EXPECT_TRUE(close_to(emb.forward(idx), {2, 3, 4}, ref, {0.0, 0.0}));

    // Norms with non-trivial affine parameters over a strided input.
    nn::LayerNorm ln(Shape{6}, 1e-5, true, true, TensorOptions(t));
    nn::RMSNorm rms(Shape{6}, 1e-6, true, TensorOptions(t));
    nn::init::uniform_(ln.weight, 0.5, 1.5, &gen);
    nn::init::uniform_(ln.bias, -0.5, 0.5, &gen);
    nn::init::uniform_(rms.weight, 0.5, 1.5, &gen);
    const Tensor x = random_tensor({5, 12}, t, -2, 2, rng).slice(1, 0, 12, 2);  // [5, 6], stride 2
    const auto xv = to_host(x), lw = to_host(ln.weight), lb = to_host(ln.bias), rw = to_host(rms.weight);
    std::vector<double> lref(30), rref(30), scale(30);
    for (int r = 0; r < 5; ++r) {
      double mean = 0, ms = 0, var = 0;
      for (int j = 0; j < 6; ++j) mean += xv[r * 6 + j] / 6, ms += xv[r * 6 + j] * xv[r * 6 + j] / 6;
      for (int j = 0; j < 6; ++j) var += (xv[r * 6 + j] - mean) * (xv[r * 6 + j] - mean) / 6;
      for (int j = 0; j < 6; ++j) {
        lref[r * 6 + j] = (xv[r * 6 + j] - mean) / std::sqrt(var + 1e-5) * lw[j] + lb[j];
        rref[r * 6 + j] = xv[r * 6 + j] / std::sqrt(ms + 1e-6) * rw[j];
        scale[r * 6 + j] = 4.0;  // normalised values are O(1); affine params below 1.5
      }
    }
    EXPECT_TRUE(close_to(ln.forward(x), {5, 6}, lref, {0.0, 0.0}, bounds(t, scale, 16)));
    EXPECT_TRUE(close_to(rms.forward(x), {5, 6}, rref, {0.0, 0.0}, bounds(t, scale, 16)));
  }
  nn::LayerNorm plain(Shape{2, 3}, 1e-5, false);
  EXPECT_FALSE(plain.weight.defined());
  EXPECT_TRUE(plain.parameters().empty());
  EXPECT_THROW(nn::Embedding(4, 2, 4), IndexError);
}

TEST(NnModules, ActivationsAndDropout) {
  std::mt19937 rng(4);
  for (DType t : floating_dtypes()) {
    SCOPED_TRACE(dtype_name(t));
    const Tensor x = random_transposed(3, 5, t, rng);
    const auto xv = to_host(x);
    std::vector<double> ge(15), gt(15), si(15), scale(15, 1.0);
    for (size_t i = 0; i < 15; ++i) {
      const double v = xv[i];
      ge[i] = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
      gt[i] = 0.5 * v * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
      si[i] = v / (1 + std::exp(-v));
    }
    EXPECT_TRUE(close_to(nn::GELU().forward(x), {3, 5}, ge, {0.0, 0.0}, bounds(t, scale, 8)));
    EXPECT_TRUE(close_to(nn::GELU("tanh").forward(x), {3, 5}, gt, {0.0, 0.0}, bounds(t, scale, 8)));
    EXPECT_TRUE(close_to(nn::SiLU().forward(x), {3, 5}, si, {0.0, 0.0}, bounds(t, scale, 8)));
  }
  EXPECT_THROW(nn::GELU("fast"), ValueError);

  Generator gen(9);
  nn::Dropout drop(0.25, &gen);
  const Tensor x = full({4000}, 2.0);
  const auto y = to_host(drop.forward(x));
  int zeros_seen = 0;
  for (double v : y) {
    if (v == 0.0)
      ++zeros_seen;
    else
      EXPECT_FLOAT_EQ(static_cast<float>(v), 2.0f / 0.75f);  // float32: kept values scaled by 1 / (1 - p)
  }
  EXPECT_NEAR(zeros_seen / 4000.0, 0.25, 0.03);
  drop.eval();
  EXPECT_EQ(to_host(drop.forward(x)), to_host(x));  // identity in eval mode
  EXPECT_THROW(nn::Dropout(1.5), ValueError);
}

TEST(NnModules, Conv2dAndMaxPoolMatchReference) {
  std::mt19937 rng(5);
  for (DType t : floating_dtypes()) {
    SCOPED_TRACE(dtype_name(t));
    Generator gen(2);
    ops::Conv2dParams p;
    p.stride = {2, 1};
    p.padding = {1, 0};
    p.groups = 2;
    nn::Conv2d conv(4, 6, {3, 2}, p, true, &gen, TensorOptions(t));
    const int64_t N = 2, C = 4, H = 7, W = 5, O = 6, KH = 3, KW = 2, Cg = 2, Og = 3;
    const int64_t OH = (H + 2 - KH) / 2 + 1, OW = W - KW + 1;
    const Tensor x = random_tensor({N, H, W, C}, t, -1, 1, rng).permute({0, 3, 1, 2});  // NCHW view of NHWC
    const auto xv = to_host(x), wv = to_host(conv.weight), bv = to_host(conv.bias);
    std::vector<double> ref, scale;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t i = 0; i < OH; ++i)
          for (int64_t j = 0; j < OW; ++j) {
            double acc = bv[o], mag = std::fabs(bv[o]);
            const int64_t g = o / Og;
            for (int64_t c = 0; c < Cg; ++c)
              for (int64_t a = 0; a < KH; ++a)
                for (int64_t b = 0; b < KW; ++b) {
                  const int64_t h = i * 2 - 1 + a, w = j + b;
                  if (h < 0 || h >= H) continue;
                  const double term = xv[((n * C + g * Cg + c) * H + h) * W + w] * wv[((o * Cg + c) * KH + a) * KW + b];
                  acc += term;
                  mag += std::fabs(term);
                }
            ref.push_back(acc);
            scale.push_back(mag);
          }
    EXPECT_TRUE(close_to(conv.forward(x), {N, O, OH, OW}, ref, {0.0, 0.0}, bounds(t, scale, 8)));

    ops::Pool2dParams pp;
    pp.kernel = {3, 3};
    pp.stride = {2, 2};
    pp.padding = {1, 1};
    nn::MaxPool2d pool(pp);
    const int64_t PH = (H + 2 - 3) / 2 + 1, PW = (W + 2 - 3) / 2 + 1;
    std::vector<double> pref;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < PH; ++i)
          for (int64_t j = 0; j < PW; ++j) {
            double m = -INFINITY;
            for (int64_t a = 0; a < 3; ++a)
              for (int64_t b = 0; b < 3; ++b) {
                const int64_t h = i * 2 - 1 + a, w = j * 2 - 1 + b;
                if (h >= 0 && h < H && w >= 0 && w < W) m = std::max(m, xv[((n * C + c) * H + h) * W + w]);
              }
            pref.push_back(m);
          }
    EXPECT_TRUE(close_to(pool.forward(x), {N, C, PH, PW}, pref, {0.0, 0.0}));
  }
  ops::Conv2dParams bad;
  bad.groups = 3;
  EXPECT_THROW(nn::Conv2d(4, 6, {3, 3}, bad), ValueError);
}

// Multi-head attention in float64 from the module's own parameters: fused projection, per-head softmax
// attention (optionally causal), output projection.
std::vector<double> mha_reference(const nn::MultiheadAttention& m, const std::vector<double>& x, int64_t B, int64_t T,
                                  bool causal, std::vector<double>* scale) {
  const int64_t E = m.embed_dim, H = m.num_heads, D = m.head_dim;
  const auto wi = to_host(m.in_proj_weight), bi = to_host(m.in_proj_bias);
  const auto wo = to_host(m.out_proj->weight), bo = to_host(m.out_proj->bias);
  std::vector<double> qkv(B * T * 3 * E), heads(B * T * E), out(B * T * E);
  scale->assign(B * T * E, 0.0);
  for (int64_t r = 0; r < B * T; ++r)
    for (int64_t j = 0; j < 3 * E; ++j) {
      double acc = bi[j];
      for (int64_t e = 0; e < E; ++e) acc += x[r * E + e] * wi[j * E + e];
      qkv[r * 3 * E + j] = acc;
    }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> s(T, -INFINITY);
        double mx = -INFINITY, z = 0;
        for (int64_t j = 0; j < T && (!causal || j <= i); ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += qkv[(b * T + i) * 3 * E + h * D + d] * qkv[(b * T + j) * 3 * E + E + h * D + d];
          s[j] = dot / std::sqrt(static_cast<double>(D));
          mx = std::max(mx, s[j]);
        }
        for (int64_t j = 0; j < T; ++j) z += std::exp(s[j] - mx);
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < T; ++j) acc += std::exp(s[j] - mx) / z * qkv[(b * T + j) * 3 * E + 2 * E + h * D + d];
          heads[(b * T + i) * E + h * D + d] = acc;
        }
      }
  for (int64_t r = 0; r < B * T; ++r)
    for (int64_t o = 0; o < E; ++o) {
      double acc = bo[o], mag = std::fabs(bo[o]);
      for (int64_t e = 0; e < E; ++e) {
        acc += heads[r * E + e] * wo[o * E + e];
        mag += std::fabs(heads[r * E + e] * wo[o * E + e]);
      }
      out[r * E + o] = acc;
      (*scale)[r * E + o] = mag + 1.0;
    }
  return out;
}

TEST(NnModules, MultiheadAttentionMatchesReference) {
  std::mt19937 rng(6);
  for (DType t : floating_dtypes()) {
    SCOPED_TRACE(dtype_name(t));
    Generator gen(4);
    nn::MultiheadAttention mha(8, 2, true, &gen, TensorOptions(t));
    nn::init::uniform_(mha.in_proj_bias, -0.3, 0.3, &gen);  // non-zero biases, so they are checked too
    nn::init::uniform_(mha.out_proj->bias, -0.3, 0.3, &gen);
    const Tensor x = random_tensor({5, 2, 8}, t, -1, 1, rng).transpose(0, 1);  // [B=2, T=5, E=8], strided
    const auto xv = to_host(x);
    for (bool causal : {false, true}) {
      SCOPED_TRACE(causal ? "causal" : "full");
      std::vector<double> scale;
      const auto ref = mha_reference(mha, xv, 2, 5, causal, &scale);
      EXPECT_TRUE(close_to(mha.forward(x, causal), {2, 5, 8}, ref, {0.0, 0.0}, bounds(t, scale, 24)));
      // The three-input form with distinct key / value tensors takes the split projections: same result.
      const Tensor kv = x.contiguous();
      EXPECT_TRUE(close_to(mha.forward(x, kv, kv.clone(), causal), {2, 5, 8}, ref, {0.0, 0.0}, bounds(t, scale, 24)));
    }
  }
  EXPECT_THROW(nn::MultiheadAttention(10, 3), ValueError);
  nn::MultiheadAttention m(8, 2);
  EXPECT_THROW(m.forward(zeros({2, 5, 6})), ShapeError);
}

TEST(NnModules, MultiheadAttentionFusedAndSplitGradientsAgree) {
  Generator gen(8);
  nn::MultiheadAttention mha(6, 3, true, &gen, TensorOptions(DType::Float64));
  std::mt19937 rng(7);
  const Tensor x = random_tensor({2, 4, 6}, DType::Float64, -1, 1, rng);
  sum(mul(mha.forward(x, true), mha.forward(x, true))).backward();
  const auto fused_w = to_host(mha.in_proj_weight.grad()), fused_b = to_host(mha.in_proj_bias.grad());
  mha.zero_grad();
  const Tensor k = x.clone(), v = x.clone();
  sum(mul(mha.forward(x, k, v, true), mha.forward(x, k, v, true))).backward();
  EXPECT_TRUE(close_to(mha.in_proj_weight.grad(), {18, 6}, fused_w, {1e-10, 1e-12}));
  EXPECT_TRUE(close_to(mha.in_proj_bias.grad(), {18}, fused_b, {1e-10, 1e-12}));
}

TEST(NnModules, SequentialChainsAndNamesItsSteps) {
  Generator gen(10);
  nn::Sequential seq;
  auto l1 = std::make_shared<nn::Linear>(3, 4, true, &gen, TensorOptions(DType::Float64));
  auto l2 = std::make_shared<nn::Linear>(4, 2, false, &gen, TensorOptions(DType::Float64));
  seq.push_back(l1).push_back(std::make_shared<nn::SiLU>()).push_back(l2);
  ASSERT_EQ(seq.size(), 3u);
  EXPECT_EQ(seq[1]->type_name(), "SiLU");
  EXPECT_THROW((void)seq[3], IndexError);
  std::vector<std::string> names;
  for (const auto& [name, p] : seq.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight"}));
  std::mt19937 rng(8);
  const Tensor x = random_tensor({5, 3}, DType::Float64, -1, 1, rng);
  const Tensor h = silu(l1->forward(x));
  EXPECT_TRUE(close_to(seq.forward(x), {5, 2}, to_host(l2->forward(h)), {1e-14, 1e-14}));
}

}  // namespace
}  // namespace iccrt
