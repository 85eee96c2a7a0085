// layer_norm and rms_norm, forward and backward: the input is viewed as [rows, cols] with cols the product of
// normalized_shape; statistics are one stat-dtype value per row (nn_args.hpp). Parameter gradients accumulate
// in the stat dtype and are converted to the parameter dtype at the end.
#include <cmath>

#include "iccrt/ops/nn.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cuda/nn_kernels.hpp"
#include "src/ops/nn_common.hpp"
#include "src/ops/op_common.hpp"

namespace iccrt::ops {
namespace {

struct Rows {
  int64_t rows = 1, cols = 1;
  Shape stat_shape;  // x.shape[:-len(normalized_shape)]
};

Rows norm_rows(const char* op, const Tensor& x, const Shape& ns) {
  ICCRT_CHECK_VALUE(!ns.empty(), op, ": normalized_shape must name at least one dim");
  const int64_t k = static_cast<int64_t>(ns.size()), lead = x.dim() - k;
  bool match = lead >= 0;
  for (int64_t i = 0; match && i < k; ++i) match = x.shape()[lead + i] == ns[i];
  ICCRT_CHECK_SHAPE(match, op, ": normalized_shape ", ns, " does not match the trailing dims of input shape ",
                    x.shape());
  Rows r;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead) {
      r.rows *= x.shape()[d];
      r.stat_shape.push_back(x.shape()[d]);
    } else {
      r.cols *= x.shape()[d];
    }
  }
  return r;
}

// weight / bias, when given, match x's dtype and device and have shape normalized_shape.
void check_param(const char* op, const char* what, const Tensor& p, const Tensor& x, const Shape& ns) {
  if (!p.defined()) return;
  detail::common_device(op, {&x, &p});
  detail::check_dtype(op, what, p, x.dtype());
  detail::check_shape(op, what, p, ns);
}

void* ptr_or_null(const Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; }
Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? t.contiguous() : Tensor(); }

NormResult forward(const char* op, const Tensor& x_in, const Shape& ns, const Tensor& weight_in, const Tensor& bias_in,
                   double eps, bool rms) {
  detail::check_floating(op, "input", x_in);
  const Rows r = norm_rows(op, x_in, ns);
  check_param(op, "weight", weight_in, x_in, ns);
  check_param(op, "bias", bias_in, x_in, ns);
  ICCRT_CHECK_VALUE(eps >= 0.0, op, ": eps must be non-negative, got ", eps);
  const Tensor x = x_in.contiguous(), w = contiguous_or_undefined(weight_in), b = contiguous_or_undefined(bias_in);
  const TensorOptions stat(detail::stat_dtype(x.dtype()), x.device());
  NormResult res;
  res.out = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  if (!rms) res.mean = empty(r.stat_shape, stat);
  res.rstd = empty(r.stat_shape, stat);
  if (r.rows == 0) return res;
  if (r.cols == 0) {  // statistics of empty rows
    if (!rms) res.mean.fill_(NAN);
    res.rstd.fill_(NAN);
    return res;
  }
  kernels::NormArgs a;
  a.x = x.data_ptr();
  a.weight = ptr_or_null(w);
  a.bias = ptr_or_null(b);
  a.y = res.out.data_ptr();
  a.mean = rms ? nullptr : res.mean.data_ptr();
  a.rstd = res.rstd.data_ptr();
  a.dtype = x.dtype();
  a.rows = r.rows;
  a.cols = r.cols;
  a.eps = eps;
  a.rms = rms;
  detail::run_on(
      x.device(), [&] { kernels::cpu::norm_forward(a); }, [&](void* s) { kernels::cuda::norm_forward(a, s); });
  return res;
}

// A saved statistic: stat dtype, one value per row.
Tensor check_stat(const char* op, const char* what, const Tensor& t, const Tensor& x, const Rows& r) {
  detail::common_device(op, {&x, &t});
  detail::check_dtype(op, what, t, detail::stat_dtype(x.dtype()));
  ICCRT_CHECK_SHAPE(t.numel() == r.rows, op, ": expected ", what, " with one value per normalised row (", r.rows,
                    ") but got shape ", t.shape());
  return t.contiguous();
}

NormGrads backward(const char* op, const Tensor& g_in, const Tensor& x_in, const Shape& ns, const Tensor& mean_in,
                   const Tensor& rstd_in, const Tensor& weight_in, const Tensor& bias_in, std::array<bool, 3> need,
                   bool rms) {
  detail::check_floating(op, "input", x_in);
  detail::common_device(op, {&x_in, &g_in});
  detail::check_dtype(op, "grad_out", g_in, x_in.dtype());
  detail::check_shape(op, "grad_out", g_in, x_in.shape());
  const Rows r = norm_rows(op, x_in, ns);
  check_param(op, "weight", weight_in, x_in, ns);
  check_param(op, "bias", bias_in, x_in, ns);
  const Tensor mean = rms ? Tensor() : check_stat(op, "mean", mean_in, x_in, r);
  const Tensor rstd = check_stat(op, "rstd", rstd_in, x_in, r);
  const Tensor x = x_in.contiguous(), g = g_in.contiguous(), w = contiguous_or_undefined(weight_in);

  const DType sd = detail::stat_dtype(x.dtype());
  NormGrads res;
  Tensor gw, gb;  // stat-dtype accumulators
  if (need[0]) res.grad_input = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  if (need[1] && w.defined()) gw = zeros({r.cols}, TensorOptions(sd, x.device()));
  if (need[2] && bias_in.defined()) gb = zeros({r.cols}, TensorOptions(sd, x.device()));
  if (r.rows > 0 && r.cols > 0 && (res.grad_input.defined() || gw.defined() || gb.defined())) {
    kernels::NormArgs a;
    a.x = x.data_ptr();
    a.weight = ptr_or_null(w);
    a.mean = rms ? nullptr : mean.data_ptr();
    a.rstd = rstd.data_ptr();
    a.dtype = x.dtype();
    a.rows = r.rows;
    a.cols = r.cols;
    a.rms = rms;
    a.grad_out = g.data_ptr();
    a.grad_in = res.grad_input.defined() ? res.grad_input.data_ptr() : nullptr;
    a.grad_weight = ptr_or_null(gw);
    a.grad_bias = ptr_or_null(gb);
    detail::run_on(
        x.device(), [&] { kernels::cpu::norm_backward(a); }, [&](void* s) { kernels::cuda::norm_backward(a, s); });
  }
  if (gw.defined()) res.grad_weight = gw.to(x.dtype()).reshape(ns);
  if (gb.defined()) res.grad_bias = gb.to(x.dtype()).reshape(ns);
  return res;
}

}  // namespace

NormResult layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                      double eps) {
  return forward("layer_norm", x, normalized_shape, weight, bias, eps, false);
}

NormGrads layer_norm_backward(const Tensor& grad_out, const Tensor& x, const Shape& normalized_shape,
                              const Tensor& mean, const Tensor& rstd, const Tensor& weight, const Tensor& bias,
                              std::array<bool, 3> need) {
  return backward("layer_norm_backward", grad_out, x, normalized_shape, mean, rstd, weight, bias, need, false);
}

NormResult rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, double eps) {
  return forward("rms_norm", x, normalized_shape, weight, Tensor(), eps, true);
}

NormGrads rms_norm_backward(const Tensor& grad_out, const Tensor& x, const Shape& normalized_shape, const Tensor& rstd,
                            const Tensor& weight, std::array<bool, 2> need) {
  return backward("rms_norm_backward", grad_out, x, normalized_shape, Tensor(), rstd, weight, Tensor(),
                  {need[0], need[1], false}, true);
}

}  // namespace iccrt::ops
