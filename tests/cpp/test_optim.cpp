// Optimizers against float64 reference loops written here (SGD with momentum / dampening / Nesterov / weight
// decay / maximize, AdamW with parameter groups), their state dicts (through safetensors files), argument checks,
// gradient clipping, learning-rate schedules, and a small MLP fitting a function.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "iccrt/core/error.hpp"
#include "iccrt/io/safetensors.hpp"
#include "iccrt/nn/nn.hpp"
#include "iccrt/optim/optim.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

using test::close_to;
using test::random_values;
using test::to_host;

Tensor leaf(const std::vector<double>& v, const Shape& shape, DType t) {
  Tensor p = from_vector(v, shape, TensorOptions(t));
  p.set_requires_grad(true);
  return p;
}

test::Tol tol_of(DType t) { return t == DType::Float64 ? test::Tol{1e-12, 1e-13} : test::Tol{2e-5, 2e-6}; }

// ---- SGD -----------------------------------------------------------------------------------------------------------

std::vector<double> sgd_reference(std::vector<double> p, const std::vector<std::vector<double>>& grads,
                                  const optim::SGDOptions& o) {
  std::vector<double> buf;
  for (const auto& grad : grads) {
    std::vector<double> d(p.size());
    for (size_t i = 0; i < p.size(); ++i) d[i] = (o.maximize ? -grad[i] : grad[i]) + o.weight_decay * p[i];
    if (o.momentum != 0) {
      if (buf.empty()) {
        buf = d;
      } else {
        for (size_t i = 0; i < p.size(); ++i) buf[i] = o.momentum * buf[i] + (1 - o.dampening) * d[i];
      }
      for (size_t i = 0; i < p.size(); ++i) d[i] = o.nesterov ? d[i] + o.momentum * buf[i] : buf[i];
    }
    for (size_t i = 0; i < p.size(); ++i) p[i] -= o.lr * d[i];
  }
  return p;
}

optim::SGDOptions sgd(double lr, double momentum, double dampening, double wd, bool nesterov, bool maximize) {
  optim::SGDOptions o;
  o.lr = lr;
  o.momentum = momentum;
  o.dampening = dampening;
  o.weight_decay = wd;
  o.nesterov = nesterov;
  o.maximize = maximize;
  return o;
}

TEST(OptimSGD, MatchesReferenceLoop) {
  const std::vector<optim::SGDOptions> configs = {
      sgd(0.1, 0, 0, 0, false, false),   sgd(0.1, 0.9, 0, 0, false, false),    sgd(0.05, 0.9, 0.3, 0, false, false),
      sgd(0.05, 0.8, 0, 0, true, false), sgd(0.1, 0.5, 0, 0.05, false, false), sgd(0.1, 0.7, 0, 0.02, true, true)};
  std::mt19937 rng(1);
  for (DType t : {DType::Float32, DType::Float64}) {
    for (size_t c = 0; c < configs.size(); ++c) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " config " + std::to_string(c));
      const auto init = random_values(7, t, -1, 1, rng);
      Tensor p = leaf(init, {7}, t);
      optim::SGD opt({p}, configs[c]);
      std::vector<std::vector<double>> grads;
      for (int step = 0; step < 5; ++step) {
        grads.push_back(random_values(7, t, -1, 1, rng));
        p.set_grad(from_vector(grads.back(), {7}, TensorOptions(t)));
        opt.step();
      }
      EXPECT_TRUE(close_to(p, {7}, sgd_reference(init, grads, configs[c]), tol_of(t)));
    }
  }
}

TEST(OptimSGD, ChecksItsArguments) {
  Tensor p = leaf({1, 2}, {2}, DType::Float32);
  EXPECT_THROW(optim::SGD({p}, sgd(-0.1, 0, 0, 0, false, false)), ValueError);
  EXPECT_THROW(optim::SGD({p}, sgd(0.1, 0, 0, 0, true, false)), ValueError);      // nesterov without momentum
  EXPECT_THROW(optim::SGD({p}, sgd(0.1, 0.9, 0.1, 0, true, false)), ValueError);  // nesterov with dampening
  EXPECT_THROW(optim::SGD(std::vector<Tensor>{}), ValueError);
  EXPECT_THROW(optim::SGD({p, p}), ValueError);
  EXPECT_THROW(optim::SGD({mul(p, p)}), ValueError);  // not a leaf
  EXPECT_THROW(optim::SGD({zeros({2}, DType::Int64)}), DTypeError);
  EXPECT_THROW(optim::SGD(std::vector<optim::ParamGroup>{{{p}, {{"betas", 0.5}}}}), ValueError);
  Tensor q = leaf({3}, {1}, DType::Float32);
  EXPECT_THROW(optim::SGD(std::vector<optim::ParamGroup>{{{p}}, {{q, p}}}), ValueError);  // p in two groups
}

// ---- AdamW ---------------------------------------------------------------------------------------------------------

struct AdamRef {
  explicit AdamRef(std::vector<double> init) : p(std::move(init)) {}
  std::vector<double> p, m, v;
  int64_t step = 0;
  void update(const std::vector<double>& g, const optim::AdamWOptions& o) {
    if (m.empty()) m.assign(p.size(), 0.0), v.assign(p.size(), 0.0);
    ++step;
    const double bc1 = 1 - std::pow(o.beta1, static_cast<double>(step));
    const double bc2 = 1 - std::pow(o.beta2, static_cast<double>(step));
    for (size_t i = 0; i < p.size(); ++i) {
      const double gi = o.maximize ? -g[i] : g[i];
      p[i] *= 1 - o.lr * o.weight_decay;
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * gi;
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * gi * gi;
      p[i] -= o.lr * (m[i] / bc1) / (std::sqrt(v[i] / bc2) + o.eps);
    }
  }
};

TEST(OptimAdamW, MatchesReferenceWithGroupsAndSkippedParameters) {
  std::mt19937 rng(2);
  for (DType t : {DType::Float32, DType::Float64}) {
    SCOPED_TRACE(dtype_name(t));
    optim::AdamWOptions o0;
    o0.lr = 0.01;
    o0.weight_decay = 0.1;
    o0.beta2 = 0.99;
    optim::AdamWOptions o1 = o0;
    o1.lr = 0.05;
    o1.weight_decay = 0.0;
    o1.maximize = true;
    AdamRef ra(random_values(6, t, -1, 1, rng)), rb(random_values(5, t, -1, 1, rng));
    // b is a non-contiguous leaf (column 0 of a [5, 2] tensor): it is updated through a contiguous copy written
    // back, and column 1 stays as it was.
    Tensor a = leaf(ra.p, {2, 3}, t);
    std::vector<double> base_values;
    for (double v : rb.p) base_values.push_back(v), base_values.push_back(42.0);
    const Tensor base = from_vector(base_values, {5, 2}, TensorOptions(t));
    Tensor b = base.select(1, 0).detach();
    ASSERT_FALSE(b.is_contiguous());
    b.set_requires_grad(true);
    optim::AdamW opt(
        std::vector<optim::ParamGroup>{{{a}}, {{b}, {{"lr", o1.lr}, {"weight_decay", 0.0}, {"maximize", 1.0}}}}, o0);
    EXPECT_EQ(opt.option(1, "beta2"), 0.99);  // filled from the defaults
    for (int step = 0; step < 6; ++step) {
      const auto ga = random_values(6, t, -1, 1, rng), gb = random_values(5, t, -1, 1, rng);
      a.set_grad(from_vector(ga, {2, 3}, TensorOptions(t)));
      ra.update(ga, o0);
      if (step % 2 == 0) {  // b has a gradient every other step; the others skip it (no state change)
        b.set_grad(from_vector(gb, {5}, TensorOptions(t)));
        rb.update(gb, o1);
      } else {
        b.set_grad(Tensor());
      }
      opt.step();
    }
    EXPECT_TRUE(close_to(a, {2, 3}, ra.p, tol_of(t)));
    EXPECT_TRUE(close_to(b, {5}, rb.p, tol_of(t)));
    EXPECT_EQ(to_host(base.select(1, 1)), std::vector<double>(5, 42.0));
    const optim::OptimizerState st = opt.state_dict();
    EXPECT_EQ(st.scalars.at("state.0.step"), 6.0);
    EXPECT_EQ(st.scalars.at("state.1.step"), 3.0);
    EXPECT_EQ(st.scalars.at("param_groups.1.lr"), 0.05);
    EXPECT_EQ(st.scalars.at("param_groups.0.size"), 1.0);
    ASSERT_EQ(st.tensors.size(), 4u);
    EXPECT_EQ(st.tensors[0].first, "state.0.exp_avg");
    EXPECT_TRUE(close_to(st.tensors[0].second, {2, 3}, ra.m, tol_of(t)));
  }
  Tensor p = leaf({1}, {1}, DType::Float32);
  optim::AdamWOptions bad;
  bad.beta1 = 1.0;
  EXPECT_THROW(optim::AdamW({p}, bad), ValueError);
}

TEST(OptimAdamW, StateDictRoundTripThroughSafetensors) {
  std::mt19937 rng(3);
  const auto init = random_values(8, DType::Float32, -1, 1, rng);
  Tensor p1 = leaf(init, {2, 4}, DType::Float32);
  Tensor q1 = leaf({0.5, -0.5}, {2}, DType::Float32);
  optim::AdamW opt1(std::vector<optim::ParamGroup>{{{p1}}, {{q1}, {{"lr", 0.02}}}});
  std::vector<std::vector<double>> grads;
  for (int i = 0; i < 7; ++i) grads.push_back(random_values(10, DType::Float32, -1, 1, rng));
  auto feed = [&](Tensor& p, Tensor& q, int i) {
    p.set_grad(from_vector({grads[i].begin(), grads[i].begin() + 8}, {2, 4}));
    q.set_grad(from_vector({grads[i].begin() + 8, grads[i].end()}, {2}));
  };
  for (int i = 0; i < 4; ++i) feed(p1, q1, i), opt1.step();

  std::string path = ::testing::TempDir() + "iccrt_optim_XXXXXX";
  const int fd = mkstemp(path.data());
  ASSERT_GE(fd, 0);
  close(fd);
  const optim::OptimizerState saved = opt1.state_dict();
  save_safetensors(path, saved.tensors, saved.metadata());
  const TensorFile f = load_safetensors(path);
  std::remove(path.c_str());

  Tensor p2 = leaf(to_host(p1), {2, 4}, DType::Float32), q2 = leaf(to_host(q1), {2}, DType::Float32);
  optim::AdamW opt2(std::vector<optim::ParamGroup>{{{p2}}, {{q2}}});
  opt2.load_state_dict(optim::OptimizerState::from(f.tensors, f.metadata));
  EXPECT_EQ(opt2.option(1, "lr"), 0.02);  // hyperparameters come back too
  for (int i = 4; i < 7; ++i) feed(p1, q1, i), opt1.step(), feed(p2, q2, i), opt2.step();
  EXPECT_EQ(to_host(p2), to_host(p1));  // bit-identical continuation
  EXPECT_EQ(to_host(q2), to_host(q1));

  // Mismatches are refused without changing anything.
  Tensor lone = leaf(init, {2, 4}, DType::Float32);
  optim::AdamW one_group({lone});
  EXPECT_THROW(one_group.load_state_dict(saved), ValueError);  // two groups saved
  Tensor r = leaf(init, {8}, DType::Float32), s = leaf({1, 2}, {2}, DType::Float32);
  optim::AdamW reshaped(std::vector<optim::ParamGroup>{{{r}}, {{s}}});
  EXPECT_THROW(reshaped.load_state_dict(saved), ShapeError);
  EXPECT_TRUE(reshaped.state_dict().tensors.empty());
  optim::SGD other(std::vector<optim::ParamGroup>{{{r}}, {{s}}});
  EXPECT_THROW(other.load_state_dict(saved), ValueError);  // AdamW's options are unknown to SGD
  EXPECT_THROW(optim::OptimizerState::from({}, {{"param_groups.0.lr", "fast"}}), ValueError);
}

TEST(OptimBase, ZeroGradAndSetLr) {
  Tensor p = leaf({1, 2}, {2}, DType::Float32);
  optim::SGD opt({p}, sgd(0.1, 0, 0, 0, false, false));
  p.set_grad(ones({2}));
  opt.zero_grad(/*set_to_none=*/false);
  EXPECT_EQ(to_host(p.grad()), (std::vector<double>{0, 0}));
  opt.zero_grad();
  EXPECT_FALSE(p.grad().defined());
  opt.step();  // no gradient: nothing happens
  EXPECT_EQ(to_host(p), (std::vector<double>{1, 2}));
  opt.set_lr(0.25);
  EXPECT_EQ(opt.option(0, "lr"), 0.25);
  EXPECT_THROW(opt.option(0, "beta1"), ValueError);
  EXPECT_THROW(opt.option(1, "lr"), IndexError);
}

// ---- clipping ------------------------------------------------------------------------------------------------------

TEST(OptimClip, GradNormOfEveryOrderAndScaling) {
  std::mt19937 rng(4);
  const auto g1 = random_values(12, DType::Float32, -2, 2, rng), g2 = random_values(5, DType::Float64, -2, 2, rng);
  std::vector<double> all = g1;
  all.insert(all.end(), g2.begin(), g2.end());
  for (double order : {2.0, 1.0, 3.0, static_cast<double>(INFINITY)}) {
    SCOPED_TRACE(order);
    Tensor a = leaf(std::vector<double>(12, 0.0), {3, 4}, DType::Float32);
    Tensor b = leaf(std::vector<double>(5, 0.0), {5}, DType::Float64);
    Tensor none = leaf({1}, {1}, DType::Float32);  // no gradient: skipped
    a.set_grad(from_vector(g1, {3, 4}));
    b.set_grad(from_vector(g2, {5}, TensorOptions(DType::Float64)));
    double ref = 0;
    for (double v : all) ref = std::isinf(order) ? std::max(ref, std::fabs(v)) : ref + std::pow(std::fabs(v), order);
    if (!std::isinf(order)) ref = std::pow(ref, 1.0 / order);
    // Above the norm: nothing changes.
    EXPECT_NEAR(optim::clip_grad_norm_({a, b, none}, ref * 2, order), ref, 1e-12 * ref);
    EXPECT_TRUE(close_to(b.grad(), {5}, g2, {0, 0}));
    // Below: scaled by max_norm / (norm + 1e-6).
    EXPECT_NEAR(optim::clip_grad_norm_({a, b, none}, ref / 4, order), ref, 1e-12 * ref);
    const double coef = (ref / 4) / (ref + 1e-6);
    std::vector<double> s1, s2;
    for (double v : g1) s1.push_back(v * coef);
    for (double v : g2) s2.push_back(v * coef);
    EXPECT_TRUE(close_to(a.grad(), {3, 4}, s1, {1e-6, 1e-7}));
    EXPECT_TRUE(close_to(b.grad(), {5}, s2, {1e-14, 1e-15}));
  }
  Tensor c = leaf({0, 0}, {2}, DType::Float32);
  EXPECT_EQ(optim::clip_grad_norm_({c}, 1.0), 0.0);  // no gradients at all
  c.set_grad(from_vector({INFINITY, 1.0}, {2}));
  EXPECT_THROW(optim::clip_grad_norm_({c}, 1.0, 2.0, /*error_if_nonfinite=*/true), ValueError);
  EXPECT_TRUE(std::isinf(optim::clip_grad_norm_({c}, 1.0)));
  EXPECT_EQ(c.grad().get({1}), 0.0);  // scaled by 0, as PyTorch does
  EXPECT_THROW(optim::clip_grad_norm_({c}, -1.0), ValueError);
  EXPECT_THROW(optim::clip_grad_norm_({c}, 1.0, 0.0), ValueError);

  Tensor d = leaf({0, 0, 0}, {3}, DType::Float64);
  d.set_grad(from_vector({-3.0, 0.5, 2.0}, {3}, TensorOptions(DType::Float64)));
  optim::clip_grad_value_({d}, 1.0);
  EXPECT_EQ(to_host(d.grad()), (std::vector<double>{-1.0, 0.5, 1.0}));
}

// ---- schedules -----------------------------------------------------------------------------------------------------

TEST(OptimSchedulers, StepAndCosineWarmupRates) {
  Tensor p = leaf({1}, {1}, DType::Float32);
  optim::SGD opt({p}, sgd(0.1, 0, 0, 0, false, false));
  {
    optim::StepLR sched(opt, 3, 0.5);
    const double want[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025};
    for (int t = 0; t < 7; ++t) {
      EXPECT_DOUBLE_EQ(opt.option(0, "lr"), want[t]) << t;
      EXPECT_DOUBLE_EQ(sched.get_last_lr()[0], want[t]);
      sched.step();
    }
  }
  opt.set_lr(0.1);
  optim::CosineWarmupLR warm(opt, 4, 12, 0.01);
  std::vector<double> seen;
  for (int t = 0; t <= 20; ++t, warm.step()) seen.push_back(opt.option(0, "lr"));
  EXPECT_DOUBLE_EQ(seen[0], 0.025);  // (t + 1) / warmup
  EXPECT_DOUBLE_EQ(seen[3], 0.1);
  EXPECT_DOUBLE_EQ(seen[4], 0.1);      // the top of the cosine
  EXPECT_NEAR(seen[8], 0.055, 1e-15);  // halfway down: (0.1 + 0.01) / 2
  EXPECT_NEAR(seen[12], 0.01, 1e-15);
  EXPECT_NEAR(seen[20], 0.01, 1e-15);  // stays at eta_min
  for (int t = 5; t <= 12; ++t) EXPECT_LT(seen[t], seen[t - 1]);

  // Resuming: a new scheduler loaded with the state continues at the same step.
  const auto state = warm.state_dict();
  Tensor p2 = leaf({1}, {1}, DType::Float32);
  optim::SGD opt2({p2}, sgd(0.7, 0, 0, 0, false, false));
  optim::CosineWarmupLR resumed(opt2, 4, 12, 0.01);
  resumed.load_state_dict(state);
  EXPECT_EQ(resumed.last_step(), 21);
  EXPECT_NEAR(opt2.option(0, "lr"), 0.01, 1e-15);
  EXPECT_THROW(resumed.load_state_dict({{"last_step", 2.0}}), ValueError);  // no base rates
  EXPECT_THROW(optim::CosineWarmupLR(opt2, 5, 4), ValueError);
  EXPECT_THROW(optim::StepLR(opt2, 0), ValueError);
}

// ---- end to end ----------------------------------------------------------------------------------------------------

TEST(OptimTraining, SmallMlpFitsAFunction) {
  Generator gen(5);
  nn::Sequential mlp;
  mlp.push_back(std::make_shared<nn::Linear>(1, 32, true, &gen))
      .push_back(std::make_shared<nn::GELU>())
      .push_back(std::make_shared<nn::Linear>(32, 1, true, &gen));
  std::vector<double> xs, ys;
  for (int i = 0; i < 64; ++i) {
    xs.push_back(-3.0 + 6.0 * i / 63);
    ys.push_back(std::sin(xs.back()));
  }
  const Tensor x = from_vector(xs, {64, 1}), y = from_vector(ys, {64, 1});
  optim::AdamWOptions o;
  o.lr = 0.02;
  o.weight_decay = 0.0;
  optim::AdamW opt(mlp.parameters(), o);
  optim::CosineWarmupLR sched(opt, 20, 400, 0.002);
  double first = 0, last = 0;
  for (int step = 0; step < 400; ++step) {
    const Tensor d = sub(mlp.forward(x), y);
    const Tensor loss = mean(mul(d, d));
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
    opt.zero_grad();
    loss.backward();
    optim::clip_grad_norm_(mlp.parameters(), 1.0);
    opt.step();
    sched.step();
  }
  EXPECT_LT(last, first / 20) << "loss " << first << " -> " << last;
  EXPECT_LT(last, 0.01);
}

}  // namespace
}  // namespace iccrt
