#pragma once
// Shared by the differentiable op definitions (src/autograd/functions_*.cpp).
#include <utility>

#include "iccrt/autograd/functions.hpp"
#include "iccrt/autograd/node.hpp"
#include "iccrt/ops/elementwise.hpp"
#include "iccrt/ops/matmul.hpp"
#include "iccrt/ops/nn.hpp"
#include "iccrt/ops/reduce.hpp"

namespace iccrt::autograd::detail {

// Runs a raw op with recording off, so the views and copies it makes inside do not land on the tape.
template <class F>
auto raw(F&& f) {
  NoGradGuard no_grad;
  return f();
}

// A 0/1 tensor of x's dtype from a bool mask.
inline Tensor as_float(const Tensor& mask, DType dtype) { return mask.to(dtype); }

}  // namespace iccrt::autograd::detail
