// SGD (include/iccrt/optim/sgd.hpp), written with the raw ops under no_grad.
#include "iccrt/optim/sgd.hpp"

#include "iccrt/autograd/grad_mode.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/ops/elementwise.hpp"

namespace iccrt::optim {
namespace {

Options sgd_defaults(const SGDOptions& o) {
  return {{"lr", o.lr},
          {"momentum", o.momentum},
          {"dampening", o.dampening},
          {"weight_decay", o.weight_decay},
          {"nesterov", o.nesterov ? 1.0 : 0.0},
          {"maximize", o.maximize ? 1.0 : 0.0}};
}

void check_sgd(const Options& o) {
  const double lr = o.at("lr"), momentum = o.at("momentum"), wd = o.at("weight_decay");
  ICCRT_CHECK_VALUE(lr >= 0.0, "SGD: invalid learning rate: ", lr);
  ICCRT_CHECK_VALUE(momentum >= 0.0, "SGD: invalid momentum value: ", momentum);
  ICCRT_CHECK_VALUE(wd >= 0.0, "SGD: invalid weight_decay value: ", wd);
  ICCRT_CHECK_VALUE(o.at("nesterov") == 0.0 || (momentum > 0.0 && o.at("dampening") == 0.0),
                    "SGD: Nesterov momentum requires a momentum and zero dampening (momentum ", momentum,
                    ", dampening ", o.at("dampening"), ")");
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : SGD(std::vector<ParamGroup>{{std::move(params)}}, options) {}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults)
    : Optimizer(std::move(groups), sgd_defaults(defaults)) {
  for (const auto& g : param_groups()) check_sgd(g.options);
}

void SGD::step() {
  autograd::NoGradGuard no_grad;
  for (size_t gi = 0; gi < param_groups().size(); ++gi) {
    ParamGroup& group = param_groups()[gi];
    const Options& o = group.options;
    check_sgd(o);
    const double lr = o.at("lr"), momentum = o.at("momentum"), dampening = o.at("dampening");
    const double wd = o.at("weight_decay");
    const bool nesterov = o.at("nesterov") != 0.0, maximize = o.at("maximize") != 0.0;
    for (size_t i = 0; i < group.params.size(); ++i) {
      Tensor& p = group.params[i];
      Tensor d = p.grad();
      if (!d.defined()) continue;
      if (d.dtype() != p.dtype()) d = d.to(p.dtype());
      if (maximize) d = ops::neg(d);
      if (wd != 0.0) d = ops::add(d, ops::mul(p, wd));
      if (momentum != 0.0) {
        ParamState& st = state(gi, i);
        auto it = st.tensors.find("momentum_buffer");
        Tensor buf;
        if (it == st.tensors.end()) {
          buf = d.clone();  // a copy: d may be the gradient itself
          st.tensors["momentum_buffer"] = buf;
        } else {
          buf = it->second;
          ops::mul_(buf, momentum);
          ops::add_(buf, dampening != 0.0 ? ops::mul(d, 1.0 - dampening) : d);
        }
        d = nesterov ? ops::add(d, ops::mul(buf, momentum)) : buf;
      }
      ops::sub_(p, ops::mul(d, lr));
    }
  }
}

}  // namespace iccrt::optim
