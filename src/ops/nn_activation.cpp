// Backward of gelu and silu (their forwards are the unary ops of elementwise.cpp).
#include "iccrt/ops/nn.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cuda/nn_kernels.hpp"
#include "src/ops/nn_common.hpp"
#include "src/ops/op_common.hpp"

namespace iccrt::ops {
namespace {

using kernels::UnaryOp;

Tensor activation_backward(const char* op, UnaryOp act, const Tensor& grad_out, const Tensor& x) {
  detail::common_device(op, {&grad_out, &x});
  detail::check_floating(op, "input", x);
  detail::check_dtype(op, "grad_out", grad_out, x.dtype());
  detail::check_shape(op, "grad_out", grad_out, x.shape());
  Tensor out = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  if (out.numel() == 0) return out;
  const auto args = detail::elementwise_args(out, {&grad_out, &x});
  detail::run_on(
      x.device(), [&] { kernels::cpu::activation_backward(act, args); },
      [&](void* s) { kernels::cuda::activation_backward(act, args, s); });
  return out;
}

}  // namespace

Tensor gelu_backward(const Tensor& grad_out, const Tensor& x, const std::string& approximate) {
  ICCRT_CHECK_VALUE(approximate == "none" || approximate == "tanh",
                    "gelu_backward: approximate must be 'none' or 'tanh', got '", approximate, "'");
  return activation_backward("gelu_backward", approximate == "tanh" ? UnaryOp::GeluTanh : UnaryOp::GeluErf, grad_out,
                             x);
}

Tensor silu_backward(const Tensor& grad_out, const Tensor& x) {
  return activation_backward("silu_backward", UnaryOp::Silu, grad_out, x);
}

}  // namespace iccrt::ops
