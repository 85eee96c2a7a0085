#pragma once
// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay
// (torch.optim.SGD's update). For each parameter p with gradient g (-g with maximize), per step:
//   g = g + weight_decay * p                                    (weight_decay != 0)
//   buf = g (first step), else momentum * buf + (1 - dampening) * g   (momentum != 0)
//   g = g + momentum * buf (nesterov) or buf                    (momentum != 0)
//   p = p - lr * g
// Options: "lr", "momentum", "dampening", "weight_decay", "nesterov" and "maximize" (0 / 1).
// State per parameter: "momentum_buffer" (when momentum != 0).
#include "iccrt/optim/optimizer.hpp"

namespace iccrt::optim {

struct SGDOptions {
  double lr = 1e-3, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false, maximize = false;
};

class ICCRT_API SGD : public Optimizer {
 public:
  // lr, momentum and weight_decay must be >= 0; nesterov needs momentum > 0 and dampening 0 (ValueError).
  SGD(std::vector<Tensor> params, const SGDOptions& options = {});
  SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults = {});
  void step() override;
};

}  // namespace iccrt::optim
