// The fused AdamW step (adamw_): checks the state tensors and hyper-parameters, then one in-place kernel.
#include <cmath>

#include "iccrt/ops/nn.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cuda/nn_kernels.hpp"
#include "src/ops/nn_common.hpp"
#include "src/ops/op_common.hpp"

namespace iccrt::ops {
namespace {

// A tensor the step writes in place: param's dtype and shape, contiguous.
void check_state(const char* what, const Tensor& t, const Tensor& param) {
  detail::check_dtype("adamw_", what, t, param.dtype());
  detail::check_shape("adamw_", what, t, param.shape());
  ICCRT_CHECK_VALUE(t.is_contiguous(), "adamw_: ", what, " must be contiguous (it is updated in place); got strides ",
                    t.strides(), " for shape ", t.shape());
}

}  // namespace

void adamw_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
            const AdamWParams& p) {
  detail::check_floating("adamw_", "param", param);
  detail::common_device("adamw_", {&param, &grad, &exp_avg, &exp_avg_sq});
  check_state("param", param, param);
  check_state("exp_avg", exp_avg, param);
  check_state("exp_avg_sq", exp_avg_sq, param);
  detail::check_dtype("adamw_", "grad", grad, param.dtype());
  detail::check_shape("adamw_", "grad", grad, param.shape());
  ICCRT_CHECK_VALUE(p.lr >= 0.0, "adamw_: lr must be non-negative, got ", p.lr);
  ICCRT_CHECK_VALUE(p.eps >= 0.0, "adamw_: eps must be non-negative, got ", p.eps);
  ICCRT_CHECK_VALUE(p.beta1 >= 0.0 && p.beta1 < 1.0, "adamw_: beta1 must be in [0, 1), got ", p.beta1);
  ICCRT_CHECK_VALUE(p.beta2 >= 0.0 && p.beta2 < 1.0, "adamw_: beta2 must be in [0, 1), got ", p.beta2);
  ICCRT_CHECK_VALUE(p.weight_decay >= 0.0, "adamw_: weight_decay must be non-negative, got ", p.weight_decay);
  ICCRT_CHECK_VALUE(p.step >= 1, "adamw_: step counts from 1, got ", p.step);
  if (param.numel() == 0) return;
  const Tensor g = grad.contiguous();
  kernels::AdamWArgs a;
  a.param = param.data_ptr();
  a.grad = g.data_ptr();
  a.exp_avg = exp_avg.data_ptr();
  a.exp_avg_sq = exp_avg_sq.data_ptr();
  a.dtype = param.dtype();
  a.n = param.numel();
  a.lr = p.lr;
  a.beta1 = p.beta1;
  a.beta2 = p.beta2;
  a.eps = p.eps;
  a.weight_decay = p.weight_decay;
  a.step = p.step;
  a.maximize = p.maximize;
  // In-place writes: a graph that saved one of these tensors must notice (Note [Saved tensors]).
  param.storage()->bump_version();
  exp_avg.storage()->bump_version();
  exp_avg_sq.storage()->bump_version();
  detail::run_on(
      param.device(), [&] { kernels::cpu::adamw_step(a); }, [&](void* s) { kernels::cuda::adamw_step(a, s); });
}

}  // namespace iccrt::ops
