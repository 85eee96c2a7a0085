#pragma once
// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter; torch.optim.AdamW's update), one fused in-place
// kernel per parameter (ops::adamw_). At step t (counted from 1) with gradient g:
//   p = p * (1 - lr * weight_decay)
//   m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
//   p = p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)      (maximize: g is negated)
// Options: "lr", "beta1", "beta2", "eps", "weight_decay", "maximize" (0 / 1).
// State per parameter: "step" (a number), "exp_avg" and "exp_avg_sq" (the parameter's dtype and device;
// float16 / bfloat16 are computed in float32 inside the kernel). A gradient of another dtype is converted to the
// parameter's; a non-contiguous parameter is updated through a contiguous copy written back.
#include "iccrt/optim/optimizer.hpp"

namespace iccrt::optim {

struct AdamWOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
  bool maximize = false;
};

class ICCRT_API AdamW : public Optimizer {
 public:
  // lr, eps and weight_decay must be >= 0 and the betas in [0, 1) (ValueError).
  AdamW(std::vector<Tensor> params, const AdamWOptions& options = {});
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults = {});
  void step() override;
};

}  // namespace iccrt::optim
