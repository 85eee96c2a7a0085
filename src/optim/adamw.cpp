// AdamW (include/iccrt/optim/adamw.hpp): per-parameter state around the fused ops::adamw_ step.
#include "iccrt/optim/adamw.hpp"

#include "iccrt/autograd/grad_mode.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/ops/nn.hpp"

namespace iccrt::optim {
namespace {

Options adamw_defaults(const AdamWOptions& o) {
  return {{"lr", o.lr},
          {"beta1", o.beta1},
          {"beta2", o.beta2},
          {"eps", o.eps},
          {"weight_decay", o.weight_decay},
          {"maximize", o.maximize ? 1.0 : 0.0}};
}

void check_adamw(const Options& o) {
  const double lr = o.at("lr"), b1 = o.at("beta1"), b2 = o.at("beta2"), eps = o.at("eps"), wd = o.at("weight_decay");
  ICCRT_CHECK_VALUE(lr >= 0.0, "AdamW: invalid learning rate: ", lr);
  ICCRT_CHECK_VALUE(eps >= 0.0, "AdamW: invalid epsilon value: ", eps);
  ICCRT_CHECK_VALUE(b1 >= 0.0 && b1 < 1.0, "AdamW: invalid beta1 (needs [0, 1)): ", b1);
  ICCRT_CHECK_VALUE(b2 >= 0.0 && b2 < 1.0, "AdamW: invalid beta2 (needs [0, 1)): ", b2);
  ICCRT_CHECK_VALUE(wd >= 0.0, "AdamW: invalid weight_decay value: ", wd);
}

}  // namespace

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& options)
    : AdamW(std::vector<ParamGroup>{{std::move(params)}}, options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults)
    : Optimizer(std::move(groups), adamw_defaults(defaults)) {
  for (const auto& g : param_groups()) check_adamw(g.options);
}

void AdamW::step() {
  autograd::NoGradGuard no_grad;
  for (size_t gi = 0; gi < param_groups().size(); ++gi) {
    ParamGroup& group = param_groups()[gi];
    const Options& o = group.options;
    check_adamw(o);
    ops::AdamWParams hp;
    hp.lr = o.at("lr");
    hp.beta1 = o.at("beta1");
    hp.beta2 = o.at("beta2");
    hp.eps = o.at("eps");
    hp.weight_decay = o.at("weight_decay");
    hp.maximize = o.at("maximize") != 0.0;
    for (size_t i = 0; i < group.params.size(); ++i) {
      Tensor& p = group.params[i];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      ParamState& st = state(gi, i);
      if (st.empty()) {
        st.scalars["step"] = 0.0;
        st.tensors["exp_avg"] = zeros(p.shape(), TensorOptions(p.dtype(), p.device()));
        st.tensors["exp_avg_sq"] = zeros(p.shape(), TensorOptions(p.dtype(), p.device()));
      }
      ICCRT_CHECK_VALUE(st.tensors.count("exp_avg") && st.tensors.count("exp_avg_sq") && st.scalars.count("step"),
                        "AdamW: the state of parameter ", i, " of group ", gi,
                        " lacks step / exp_avg / exp_avg_sq (loaded from another optimizer?)");
      const double step = st.scalars["step"] += 1.0;
      hp.step = static_cast<int64_t>(step);
      if (grad.dtype() != p.dtype()) grad = grad.to(p.dtype());
      const Tensor target = p.is_contiguous() ? p : p.contiguous();
      ops::adamw_(target, grad, st.tensors["exp_avg"], st.tensors["exp_avg_sq"], hp);
      if (!p.is_contiguous()) p.copy_(target);
    }
  }
}

}  // namespace iccrt::optim
