// Autograd: every differentiable foundation op against finite differences in float64 (broadcasting and
// non-contiguous inputs included), and the engine's rules: accumulation, retain_graph, hooks, grad(), no_grad,
// in-place guards and the saved-tensor version check.
#include <gtest/gtest.h>

#include "tests/cpp/gradcheck.hpp"

namespace iccrt::test {
namespace {

using V = std::vector<Tensor>;

TEST(AutogradGradcheck, Unary) {
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> f;
    bool positive;
  };
  const std::vector<Case> cases = {
      {"neg", [](const Tensor& x) { return neg(x); }, false},
      {"abs", [](const Tensor& x) { return abs(x); }, false},
      {"exp", [](const Tensor& x) { return exp(x); }, false},
      {"log", [](const Tensor& x) { return log(x); }, true},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, true},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, true},
      {"tanh", [](const Tensor& x) { return tanh(x); }, false},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, false},
      {"relu", [](const Tensor& x) { return relu(x); }, false},
      {"gelu", [](const Tensor& x) { return gelu(x); }, false},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }, false},
      {"silu", [](const Tensor& x) { return silu(x); }, false},
  };
  for (const Case& c : cases) {
    Tensor x = leaf64({3, 5}, 1);
    if (c.positive) {
      autograd::NoGradGuard ng;
      x = ops::add(ops::abs(x), 0.1);
      x.set_requires_grad(true);
    }
    gradcheck(c.name, [&](const V& in) { return c.f(in[0]); }, {x});
    // Non-contiguous input: a transposed view of a leaf.
    Tensor base = leaf64({5, 3}, 2);
    if (c.positive) {
      autograd::NoGradGuard ng;
      base = ops::add(ops::abs(base), 0.1);
      base.set_requires_grad(true);
    }
    gradcheck(std::string(c.name) + " (transposed)", [&](const V& in) { return c.f(in[0].t()); }, {base});
  }
}

TEST(AutogradGradcheck, BinaryBroadcast) {
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&, const Tensor&)> f;
  };
  const std::vector<Case> cases = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(abs(a) + 0.5, b); }},
  };
  for (const Case& c : cases) {
    // [2, 3, 4] op [3, 1]: both operands broadcast.
    gradcheck(c.name, [&](const V& in) { return c.f(in[0], in[1]); }, {leaf64({2, 3, 4}, 3), leaf64({3, 1}, 4)});
    // A non-contiguous slice against a 0-d tensor.
    Tensor big = leaf64({4, 6}, 5);
    gradcheck(std::string(c.name) + " (strided, 0-d)",
              [&](const V& in) { return c.f(in[0].slice(1, 1, 6, 2), in[1]); }, {big, leaf64({}, 6)});
  }
}

TEST(AutogradGradcheck, Scalars) {
  Tensor x = leaf64({7}, 7);
  gradcheck("add scalar", [](const V& in) { return in[0] + 2.5; }, {x});
  gradcheck("mul scalar", [](const V& in) { return in[0] * -1.5; }, {x});
  gradcheck("div scalar", [](const V& in) { return in[0] / 3.0; }, {x});
  gradcheck("pow scalar", [](const V& in) { return pow(abs(in[0]) + 0.3, 2.5); }, {x});
  gradcheck("rsub", [](const V& in) { return rsub(in[0], 2.0); }, {x});
  gradcheck("rdiv", [](const V& in) { return rdiv(abs(in[0]) + 0.2, 2.0); }, {x});
  gradcheck("rpow", [](const V& in) { return rpow(in[0], 1.7); }, {x});
  gradcheck("maximum scalar", [](const V& in) { return maximum(in[0], 0.1); }, {x});
  gradcheck("minimum scalar", [](const V& in) { return minimum(in[0], 0.1); }, {x});
  gradcheck("where", [](const V& in) { return where(gt(in[0], 0), in[0] * 2.0, in[1]); },
            {leaf64({3, 4}, 8), leaf64({4}, 9)});
}

TEST(AutogradGradcheck, Reductions) {
  Tensor x = leaf64({3, 4, 5}, 10);
  gradcheck("sum all", [](const V& in) { return sum(in[0]); }, {x});
  gradcheck("sum dims", [](const V& in) { return sum(in[0], {0, 2}); }, {x});
  gradcheck("sum keepdim", [](const V& in) { return sum(in[0], {-1}, true); }, {x});
  gradcheck("mean", [](const V& in) { return mean(in[0], {1}); }, {x});
  gradcheck("mean all", [](const V& in) { return mean(in[0]); }, {x});
  gradcheck("var", [](const V& in) { return var(in[0], {2}); }, {x});
  gradcheck("var keepdim correction 0", [](const V& in) { return var(in[0], {0, 1}, 0, true); }, {x});
  gradcheck("max all", [](const V& in) { return max(in[0]); }, {x});
  gradcheck("min all", [](const V& in) { return min(in[0]); }, {x});
  gradcheck("max dim", [](const V& in) { return max(in[0], 1).first; }, {x});
  gradcheck("min dim keepdim", [](const V& in) { return min(in[0], -1, true).first; }, {x});
  gradcheck("sum of transposed", [](const V& in) { return sum(in[0].transpose(0, 2), {1}); }, {x});
}

TEST(AutogradGradcheck, Matmul) {
  gradcheck("mm", [](const V& in) { return mm(in[0], in[1]); }, {leaf64({3, 4}, 11), leaf64({4, 5}, 12)});
  gradcheck("matmul batched x 2-D", [](const V& in) { return matmul(in[0], in[1]); },
            {leaf64({2, 3, 4}, 13), leaf64({4, 5}, 14)});
  gradcheck("matmul broadcast batch", [](const V& in) { return matmul(in[0], in[1]); },
            {leaf64({2, 1, 3, 4}, 15), leaf64({3, 4, 2}, 16)});
  gradcheck("matmul vec-mat", [](const V& in) { return matmul(in[0], in[1]); }, {leaf64({4}, 17), leaf64({4, 3}, 18)});
  gradcheck("matmul mat-vec", [](const V& in) { return matmul(in[0], in[1]); }, {leaf64({3, 4}, 19), leaf64({4}, 20)});
  gradcheck("matmul vec-vec", [](const V& in) { return matmul(in[0], in[1]); }, {leaf64({4}, 21), leaf64({4}, 22)});
  gradcheck("bmm transposed", [](const V& in) { return bmm(in[0], in[1].transpose(1, 2)); },
            {leaf64({2, 3, 4}, 23), leaf64({2, 5, 4}, 24)});
  gradcheck("linear", [](const V& in) { return linear(in[0], in[1], in[2]); },
            {leaf64({2, 3, 4}, 25), leaf64({5, 4}, 26), leaf64({5}, 27)});
}

TEST(AutogradGradcheck, ViewsAndCopies) {
  Tensor x = leaf64({2, 3, 4}, 30);
  gradcheck("view", [](const V& in) { return in[0].view({6, 4}) * 2.0; }, {x});
  gradcheck("reshape of transposed", [](const V& in) { return in[0].transpose(0, 1).reshape({-1}); }, {x});
  gradcheck("permute", [](const V& in) { return in[0].permute({2, 0, 1}); }, {x});
  gradcheck("narrow", [](const V& in) { return in[0].narrow(2, 1, 2); }, {x});
  gradcheck("slice step", [](const V& in) { return in[0].slice(2, 0, 4, 3); }, {x});
  gradcheck("select", [](const V& in) { return in[0].select(1, -1); }, {x});
  gradcheck("expand", [](const V& in) { return in[0].unsqueeze(0).expand({3, 2, 3, 4}); }, {x});
  gradcheck("squeeze", [](const V& in) { return in[0].narrow(1, 0, 1).squeeze(1); }, {x});
  gradcheck("contiguous", [](const V& in) { return in[0].t().contiguous(); }, {leaf64({3, 5}, 31)});
  gradcheck("clone", [](const V& in) { return in[0].clone() * in[0]; }, {x});
  // float32 rounding makes small steps meaningless: a large step on a near-identity map.
  gradcheck("to float32 and back", [](const V& in) { return in[0].to(DType::Float32).to(DType::Float64); }, {x}, 1e-2,
            1e-4);
  gradcheck("cat", [](const V& in) { return cat({in[0], in[1] * 2.0}, 1); }, {leaf64({2, 3}, 32), leaf64({2, 4}, 33)});
  gradcheck("stack", [](const V& in) { return stack({in[0], in[1]}, 1); }, {leaf64({2, 3}, 34), leaf64({2, 3}, 35)});
}

TEST(AutogradEngine, AccumulatesAcrossUsesAndCalls) {
  Tensor x = full({3}, 2.0, TensorOptions(DType::Float64));
  x.set_requires_grad(true);
  Tensor y = sum(x * x + x);  // dy/dx = 2x + 1 = 5
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().get({1}), 5.0);
  sum(x * 3.0).backward();  // accumulates: 5 + 3
  EXPECT_DOUBLE_EQ(x.grad().get({0}), 8.0);
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_EQ(y.grad_fn()->name(), "SumBackward");
}

TEST(AutogradEngine, SecondBackwardNeedsRetainGraph) {
  Tensor x = leaf64({4}, 40);
  Tensor y = sum(exp(x));
  y.backward(Tensor(), true);
  Tensor g1 = x.grad().clone();
  y.backward();  // allowed: the first kept the graph
  EXPECT_NEAR(x.grad().get({2}), 2 * g1.get({2}), 1e-12);
  EXPECT_THROW(y.backward(), ValueError);  // the second freed it
}

TEST(AutogradEngine, ImplicitGradientOnlyForScalars) {
  Tensor x = leaf64({3}, 41);
  Tensor y = x * 2.0;
  EXPECT_THROW(y.backward(), ValueError);
  y.backward(ones({3}, TensorOptions(DType::Float64)));
  EXPECT_DOUBLE_EQ(x.grad().get({0}), 2.0);
  EXPECT_THROW(y.detach().backward(), ValueError);  // no history
  EXPECT_THROW(sum(x).backward(ones({2}, TensorOptions(DType::Float64))), ShapeError);
}

TEST(AutogradEngine, NoGradRecordsNothing) {
  Tensor x = leaf64({3}, 42);
  {
    autograd::NoGradGuard ng;
    Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(x.view({3, 1}).requires_grad());
  }
  EXPECT_TRUE((x * 2.0).requires_grad());
  EXPECT_FALSE(x.detach().requires_grad());
}

TEST(AutogradEngine, HooksSeeAndReplaceGradients) {
  Tensor x = leaf64({3}, 43);
  Tensor mid = x * 2.0;
  int seen = 0;
  mid.register_hook([&](const Tensor& g) {
    ++seen;
    return g * 10.0;  // replaces the gradient flowing on
  });
  int64_t leaf_hook = x.register_hook([&](const Tensor& g) {
    ++seen;
    return Tensor();
  });
  std::vector<std::string> ready;
  x.register_post_accumulate_grad_hook([&](const Tensor& t) { ready.push_back(t.grad().defined() ? "x" : "?"); });
  sum(mid).backward();
  EXPECT_EQ(seen, 2);
  EXPECT_DOUBLE_EQ(x.grad().get({0}), 20.0);
  EXPECT_EQ(ready, std::vector<std::string>{"x"});
  x.remove_hook(leaf_hook);
  sum(x * 1.0).backward();
  EXPECT_EQ(seen, 2);
}

TEST(AutogradEngine, RetainGradOnNonLeaf) {
  Tensor x = leaf64({3}, 44);
  Tensor mid = x * 3.0;
  mid.retain_grad();
  sum(mid * mid).backward();
  ASSERT_TRUE(mid.grad().defined());
  EXPECT_NEAR(mid.grad().get({1}), 2 * mid.get({1}), 1e-12);
}

TEST(AutogradEngine, GradReturnsWithoutAccumulating) {
  Tensor x = leaf64({3}, 45), w = leaf64({3}, 46);
  Tensor mid = x * w;
  Tensor y = sum(mid * mid);
  auto g = autograd::grad({y}, {x, mid}, {}, true);
  EXPECT_FALSE(x.grad().defined());
  EXPECT_NEAR(g[1].get({0}), 2 * mid.get({0}), 1e-12);
  EXPECT_NEAR(g[0].get({0}), 2 * mid.get({0}) * w.get({0}), 1e-12);
  Tensor unused = leaf64({2}, 47);
  EXPECT_THROW(autograd::grad({y}, {unused}, {}, true), ValueError);
  EXPECT_FALSE(autograd::grad({y}, {unused}, {}, false, true)[0].defined());
}

TEST(AutogradEngine, ReverseOrderOfLeafReadiness) {
  // Parameters used in order a, b, c become ready in reverse (what data parallel relies on).
  Tensor a = leaf64({2}, 48), b = leaf64({2}, 49), c = leaf64({2}, 50);
  std::vector<char> order;
  a.register_post_accumulate_grad_hook([&](const Tensor&) { order.push_back('a'); });
  b.register_post_accumulate_grad_hook([&](const Tensor&) { order.push_back('b'); });
  c.register_post_accumulate_grad_hook([&](const Tensor&) { order.push_back('c'); });
  Tensor h = tanh(a * 2.0);
  h = tanh(h * b);
  h = tanh(h * c);
  sum(h).backward();
  EXPECT_EQ(order, (std::vector<char>{'c', 'b', 'a'}));
}

TEST(AutogradEngine, InPlaceGuards) {
  Tensor x = leaf64({3}, 51);
  EXPECT_THROW(add_(x, 1.0), ValueError);  // leaf requiring grad
  Tensor y = x * 2.0;
  EXPECT_THROW(mul_(y, 2.0), ValueError);  // part of the graph
  EXPECT_THROW(y.fill_(0), ValueError);
  {
    autograd::NoGradGuard ng;
    add_(x, 1.0);  // an optimizer-style update is fine
  }
  Tensor plain = zeros({3}, TensorOptions(DType::Float64));
  EXPECT_THROW(plain.copy_(x), ValueError);  // would need recording
}

TEST(AutogradEngine, ModifiedSavedTensorIsCaught) {
  Tensor x = leaf64({3}, 52);
  Tensor w = full({3}, 2.0, TensorOptions(DType::Float64));  // saved by mul, not requiring grad
  Tensor y = sum(x * w);
  add_(w, 1.0);  // changes what the backward would read
  EXPECT_THROW(y.backward(), ValueError);
}

TEST(AutogradEngine, RequiresGradRules) {
  Tensor i = zeros({2}, TensorOptions(DType::Int64));
  EXPECT_THROW(i.set_requires_grad(true), DTypeError);
  Tensor x = leaf64({2}, 53);
  Tensor y = x * 2.0;
  EXPECT_THROW(y.set_requires_grad(false), ValueError);
  EXPECT_FALSE(argmax(x).requires_grad());
  EXPECT_FALSE(gt(x, 0).requires_grad());
  EXPECT_THROW(x.as_strided({1}, {1}, 0), ValueError);
  EXPECT_THROW(x.set_grad(zeros({3}, TensorOptions(DType::Float64))), ShapeError);
}

TEST(AutogradEngine, IntegerOutputsCarryNoGradient) {
  Tensor x = leaf64({3, 4}, 54);
  auto [values, indices] = max(x, 1);
  EXPECT_TRUE(values.requires_grad());
  EXPECT_FALSE(indices.requires_grad());
}

TEST(AutogradEngine, CustomFunctionNode) {
  // A node written with autograd::record directly (what C++ custom functions use): y = x^3 with its derivative.
  Tensor x = leaf64({4}, 55);
  Tensor y;
  {
    autograd::NoGradGuard ng;
    y = ops::mul(ops::mul(x, x), x);
  }
  autograd::SavedTensor sx(x);
  y = autograd::record("Cube", {x}, y, [sx](const Tensor& g) {
    return autograd::TensorList{ops::mul(ops::mul(ops::mul(sx.get(), sx.get()), 3.0), g)};
  });
  sum(y).backward();
  EXPECT_NEAR(x.grad().get({1}), 3 * x.get({1}) * x.get({1}), 1e-12);
  // A backward returning a wrong shape is reported, naming the node.
  Tensor z = leaf64({4}, 56);
  Tensor bad = autograd::record("Bad", {z}, z.detach() * 1.0,
                                [](const Tensor& g) { return autograd::TensorList{ops::sum(g)}; });
  try {
    sum(bad).backward();
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("Bad"), std::string::npos) << e.what();
  }
}

TEST(AutogradEngine, HookMayRemoveItself) {
  Tensor x = leaf64({3}, 60);
  Tensor y = x * 2.0;
  int calls = 0;
  int64_t id = 0;
  id = y.register_hook([&](const Tensor& g) {
    ++calls;
    y.remove_hook(id);  // one-shot hook
    return g * 3.0;
  });
  int64_t leaf_id = 0;
  leaf_id = x.register_hook([&](const Tensor& g) {
    x.remove_hook(leaf_id);
    return Tensor();
  });
  sum(y).backward(Tensor(), true);
  sum(y).backward();
  EXPECT_EQ(calls, 1);
  EXPECT_DOUBLE_EQ(x.grad().get({0}), 6.0 + 2.0);
}

TEST(AutogradEngine, HookResultIsChecked) {
  Tensor x = leaf64({3}, 61);
  x.register_hook([](const Tensor& g) { return ops::sum(g); });  // wrong shape
  EXPECT_THROW(sum(x * 2.0).backward(), ShapeError);
  Tensor z = leaf64({3}, 62);
  Tensor y = z * 2.0;
  y.register_hook([](const Tensor& g) { return g.to(DType::Float32); });  // a dtype is cast back
  sum(y).backward();
  EXPECT_EQ(z.grad().dtype(), DType::Float64);
}

TEST(AutogradEngine, RetainedGradShowsHookResult) {
  Tensor x = leaf64({3}, 63);
  Tensor y = x * 1.0;
  y.retain_grad();
  y.register_hook([](const Tensor& g) { return g * 2.0; });
  sum(y).backward();
  EXPECT_DOUBLE_EQ(y.grad().get({0}), 2.0);
}

TEST(AutogradEngine, GradStopsAtItsInputs) {
  // grad() with respect to an activation neither runs nor frees the graph below it.
  Tensor w = leaf64({3}, 64), x = leaf64({3}, 65);
  Tensor h = w * x;
  int below = 0;
  w.register_hook([&](const Tensor& g) {
    ++below;
    return Tensor();
  });
  auto g = autograd::grad({sum(h * h)}, {h});
  EXPECT_NEAR(g[0].get({1}), 2 * h.get({1}), 1e-12);
  EXPECT_EQ(below, 0);
  EXPECT_FALSE(w.grad().defined());
  sum(h * 3.0).backward();  // the part below h is intact
  EXPECT_EQ(below, 1);
  EXPECT_NEAR(w.grad().get({0}), 3 * x.get({0}), 1e-12);
}

TEST(AutogradEngine, PowEdgeCasesGiveZerosNotNaN) {
  Tensor x = from_vector({0.0, 1.5}, {2}, TensorOptions(DType::Float64));
  x.set_requires_grad(true);
  sum(pow(x, 0.0)).backward();
  EXPECT_EQ(x.grad().get({0}), 0.0);
  Tensor b = from_vector({0.0, 2.0}, {2}, TensorOptions(DType::Float64));
  b.set_requires_grad(true);
  Tensor base = from_vector({0.0, 0.0}, {2}, TensorOptions(DType::Float64));
  base.set_requires_grad(true);
  sum(pow(base, b)).backward();
  EXPECT_EQ(b.grad().get({0}), 0.0);
  EXPECT_EQ(b.grad().get({1}), 0.0);
  EXPECT_EQ(base.grad().get({0}), 0.0);  // exponent 0
}

TEST(AutogradAutocast, MatmulInBf16GradsInFp32) {
  Tensor w = leaf64({4, 3}, 57).to(DType::Float32).detach();
  w.set_requires_grad(true);
  Tensor x = randn({2, 4});
  Tensor y;
  {
    autograd::AutocastGuard ac(true, DType::BFloat16);
    y = matmul(x, w);
    EXPECT_EQ(y.dtype(), DType::BFloat16);
    Tensor r = y + zeros({2, 3});  // bf16 + f32 promotes under autocast
    EXPECT_EQ(r.dtype(), DType::Float32);
  }
  sum(y.to(DType::Float32)).backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().dtype(), DType::Float32);
  EXPECT_THROW(add(zeros({2}), zeros({2}, TensorOptions(DType::BFloat16))), DTypeError);  // no promotion outside
  {
    autograd::AutocastGuard ac(true, DType::BFloat16);
    EXPECT_EQ(matmul(zeros({2, 2}, TensorOptions(DType::Float64)), zeros({2, 2}, TensorOptions(DType::Float64))).dtype(),
              DType::Float64);  // float64 is left alone
  }
}

}  // namespace
}  // namespace iccrt::test
