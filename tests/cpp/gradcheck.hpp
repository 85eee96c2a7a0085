#pragma once
// Finite-difference gradient checking for the autograd tests: float64 inputs, central differences, compared with
// what backward() accumulates. f maps the inputs to one tensor; its gradient is taken against a fixed random
// weighting (so every output element matters).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "iccrt/iccrt.hpp"

namespace iccrt::test {

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

// A float64 leaf of `shape` with values in [-1, 1) from `seed`, kept away from zero.
inline Tensor leaf64(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  Tensor t = rand(shape, TensorOptions(DType::Float64), &g);
  t = ops::add(ops::mul(t, 1.6), -0.8);
  t = ops::add(t, ops::mul(ops::sub(ops::gt(t, 0).to(DType::Float64), 0.5), 0.4));  // |t| >= 0.2
  t.set_requires_grad(true);
  return t;
}

// Checks d(sum(f(inputs) * w))/d(input_i) for every input that requires grad against central differences.
inline void gradcheck(const std::string& what, const TensorFn& f, std::vector<Tensor> inputs, double eps = 1e-6,
                      double tol = 1e-6) {
  Tensor out = f(inputs);
  ASSERT_TRUE(out.requires_grad()) << what << ": the output does not require grad";
  Generator wg(12345);
  Tensor w = rand(out.shape(), TensorOptions(DType::Float64), &wg);
  for (Tensor& in : inputs)
    if (in.requires_grad()) in.set_grad(Tensor());
  sum(mul(out, w)).backward();
  autograd::NoGradGuard no_grad;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor& in = inputs[i];
    if (!in.requires_grad()) continue;
    Tensor analytic = in.grad();
    ASSERT_TRUE(analytic.defined()) << what << ": input " << i << " got no gradient";
    // Perturb a contiguous copy's elements through a flat view of the (possibly strided) input.
    const int64_t n = in.numel();
    Tensor base = in.contiguous().clone();
    for (int64_t k = 0; k < n; ++k) {
      auto eval = [&](double delta) {
        Tensor p = base.clone();
        Tensor flat = p.view({-1});
        const double v = flat.get({k});
        flat.narrow(0, k, 1).fill_(v + delta);
        std::vector<Tensor> args = inputs;
        args[i] = p.view(in.shape());
        return ops::sum(ops::mul(f(args), w)).item<double>();
      };
      const double numeric = (eval(eps) - eval(-eps)) / (2 * eps);
      const double got = analytic.contiguous().view({-1}).get({k});
      EXPECT_NEAR(got, numeric, tol * std::max(1.0, std::abs(numeric)))
          << what << ": input " << i << " element " << k;
    }
  }
}

}  // namespace iccrt::test
