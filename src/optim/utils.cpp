// Gradient clipping (include/iccrt/optim/utils.hpp).
#include "iccrt/optim/utils.hpp"

#include <cmath>
#include <limits>

#include "iccrt/autograd/grad_mode.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/ops/elementwise.hpp"
#include "iccrt/ops/reduce.hpp"

namespace iccrt::optim {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  ICCRT_CHECK_VALUE(max_norm >= 0.0, "clip_grad_norm_: max_norm must be non-negative, got ", max_norm);
  ICCRT_CHECK_VALUE(norm_type > 0.0, "clip_grad_norm_: norm_type must be positive (or infinity), got ", norm_type);
  autograd::NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (g.defined() && g.numel() > 0) grads.push_back(g);
  }
  if (grads.empty()) return 0.0;
  const bool inf_norm = std::isinf(norm_type);
  double acc = 0.0;
  for (const Tensor& g : grads) {
    // Per tensor in float64: sum |g|^p (or max |g|), then combined on the host.
    const Tensor g64 = g.to(DType::Float64);
    const Tensor a = ops::abs(g64);
    if (inf_norm) {
      acc = std::max(acc, ops::max(a).item<double>());
      if (std::isnan(ops::sum(a).item<double>())) acc = std::numeric_limits<double>::quiet_NaN();
    } else if (norm_type == 2.0) {
      acc += ops::sum(ops::mul(a, a)).item<double>();
    } else if (norm_type == 1.0) {
      acc += ops::sum(a).item<double>();
    } else {
      acc += ops::sum(ops::pow(a, norm_type)).item<double>();
    }
  }
  const double total = inf_norm ? acc : norm_type == 2.0 ? std::sqrt(acc) : std::pow(acc, 1.0 / norm_type);
  ICCRT_CHECK_VALUE(!error_if_nonfinite || std::isfinite(total), "clip_grad_norm_: the total norm of order ", norm_type,
                    " of the gradients is non-finite (", total,
                    "), so they cannot be clipped; pass error_if_nonfinite = false to scale anyway");
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0 || std::isnan(coef)) {
    for (Tensor& g : grads) ops::mul_(g, coef);
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  ICCRT_CHECK_VALUE(clip_value >= 0.0, "clip_grad_value_: clip_value must be non-negative, got ", clip_value);
  autograd::NoGradGuard no_grad;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined() || g.numel() == 0) continue;
    g.copy_(ops::minimum(ops::maximum(g, -clip_value), clip_value));
  }
}

}  // namespace iccrt::optim
