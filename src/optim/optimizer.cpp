// optim::Optimizer (include/iccrt/optim/optimizer.hpp): param groups, zero_grad, state dicts.
#include "iccrt/optim/optimizer.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "iccrt/autograd/grad_mode.hpp"
#include "iccrt/core/error.hpp"

namespace iccrt::optim {
namespace {

bool same_variable(const Tensor& a, const Tensor& b) {
  if (a.autograd_meta() || b.autograd_meta()) return a.autograd_meta() == b.autograd_meta();
  return a.storage() == b.storage() && a.offset() == b.offset() && a.shape() == b.shape() && a.strides() == b.strides();
}

std::string state_key(size_t index, const std::string& name) { return detail::str("state.", index, ".", name); }
std::string group_key(size_t group, const std::string& name) { return detail::str("param_groups.", group, ".", name); }

}  // namespace

// ---- OptimizerState ----------------------------------------------------------------------------------------------

std::map<std::string, std::string> OptimizerState::metadata() const {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : scalars) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.17g", value);  // 17 significant digits read back to the same double
    out[name] = buf;
  }
  return out;
}

OptimizerState OptimizerState::from(std::vector<std::pair<std::string, Tensor>> tensors,
                                    const std::map<std::string, std::string>& metadata) {
  OptimizerState s;
  s.tensors = std::move(tensors);
  for (const auto& [name, text] : metadata) {
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    ICCRT_CHECK_VALUE(!text.empty() && end == text.c_str() + text.size() && errno != ERANGE,
                      "optimizer state: metadata entry \"", name, "\" is not a number: \"", text, "\"");
    s.scalars[name] = v;
  }
  return s;
}

// ---- Optimizer ----------------------------------------------------------------------------------------------------

Optimizer::Optimizer(std::vector<ParamGroup> groups, Options defaults) : defaults_(std::move(defaults)) {
  size_t total = 0;
  for (const auto& g : groups) total += g.params.size();
  ICCRT_CHECK_VALUE(total > 0, "optimizer got an empty parameter list");
  for (auto& g : groups) add_param_group(std::move(g));
}

Optimizer::~Optimizer() = default;

void Optimizer::add_param_group(ParamGroup group) {
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    ICCRT_CHECK_VALUE(p.defined(), "optimizer: parameter ", i, " of the group is an undefined tensor");
    ICCRT_CHECK_VALUE(p.is_leaf(), "optimizer: can't optimize a non-leaf tensor (parameter ", i,
                      " of the group); detach() it and set requires_grad on the result");
    ICCRT_CHECK_DTYPE(is_floating(p.dtype()), "optimizer: parameter ", i, " has dtype ", dtype_name(p.dtype()),
                      "; only floating tensors can be optimized");
    for (size_t j = 0; j < i; ++j) {
      ICCRT_CHECK_VALUE(!same_variable(group.params[j], p), "optimizer: a param group contains the same parameter ",
                        "more than once (positions ", j, " and ", i, ")");
    }
    for (const auto& other : groups_) {
      for (const Tensor& q : other.params) {
        ICCRT_CHECK_VALUE(!same_variable(q, p), "optimizer: some parameters appear in more than one parameter group");
      }
    }
  }
  for (const auto& [name, value] : group.options) {
    ICCRT_CHECK_VALUE(defaults_.count(name), "optimizer: unknown option \"", name, "\" in a parameter group");
  }
  for (const auto& [name, value] : defaults_) group.options.emplace(name, value);
  state_.emplace_back(group.params.size());
  groups_.push_back(std::move(group));
}

void Optimizer::zero_grad(bool set_to_none) {
  autograd::NoGradGuard no_grad;
  for (auto& g : groups_) {
    for (Tensor& p : g.params) {
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      if (set_to_none)
        p.set_grad(Tensor());
      else
        grad.zero_();
    }
  }
}

double Optimizer::option(size_t group, const std::string& name) const {
  ICCRT_CHECK_INDEX(group < groups_.size(), "optimizer: group ", group, " is out of range for ", groups_.size(),
                    " groups");
  auto it = groups_[group].options.find(name);
  ICCRT_CHECK_VALUE(it != groups_[group].options.end(), "optimizer: group ", group, " has no option \"", name, "\"");
  return it->second;
}

void Optimizer::set_lr(double lr) {
  for (auto& g : groups_) g.options["lr"] = lr;
}

Optimizer::ParamState& Optimizer::state(size_t group, size_t i) {
  if (state_.size() <= group) state_.resize(group + 1);
  if (state_[group].size() <= i) state_[group].resize(i + 1);
  return state_[group][i];
}

void Optimizer::check_option(bool ok, const char* optimizer, const std::string& name, double value) {
  ICCRT_CHECK_VALUE(ok, optimizer, ": invalid ", name, " value: ", value);
}

// ---- state dicts ------------------------------------------------------------------------------------------------

OptimizerState Optimizer::state_dict() const {
  OptimizerState out;
  size_t index = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (const auto& [name, value] : groups_[g].options) out.scalars[group_key(g, name)] = value;
    out.scalars[group_key(g, "size")] = static_cast<double>(groups_[g].params.size());
    for (size_t i = 0; i < groups_[g].params.size(); ++i, ++index) {
      if (g >= state_.size() || i >= state_[g].size()) continue;
      const ParamState& s = state_[g][i];
      for (const auto& [name, t] : s.tensors) out.tensors.emplace_back(state_key(index, name), t);
      for (const auto& [name, v] : s.scalars) out.scalars[state_key(index, name)] = v;
    }
  }
  return out;
}

void Optimizer::load_state_dict(const OptimizerState& saved) {
  // Parse everything into new containers first; the optimizer changes only once all checks have passed.
  std::vector<Options> new_options(groups_.size());
  size_t total = 0;
  for (const auto& g : groups_) total += g.params.size();
  std::vector<const Tensor*> param_at(total);
  std::vector<std::pair<size_t, size_t>> where(total);
  for (size_t g = 0, k = 0; g < groups_.size(); ++g)
    for (size_t i = 0; i < groups_[g].params.size(); ++i, ++k) {
      param_at[k] = &groups_[g].params[i];
      where[k] = {g, i};
    }
  std::vector<ParamState> new_state(total);

  auto parse_index = [](const std::string& text, size_t* out) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
    *out = static_cast<size_t>(std::strtoull(text.c_str(), nullptr, 10));
    return true;
  };
  // Splits "<section>.<n>.<rest>"; false when the name does not have that form.
  auto split = [&](const std::string& key, const std::string& section, size_t* n, std::string* rest) {
    const std::string head = section + ".";
    if (key.compare(0, head.size(), head) != 0) return false;
    const size_t dot = key.find('.', head.size());
    if (dot == std::string::npos || dot + 1 >= key.size()) return false;
    *rest = key.substr(dot + 1);
    return parse_index(key.substr(head.size(), dot - head.size()), n);
  };

  size_t saved_groups = 0;
  for (const auto& [key, value] : saved.scalars) {
    size_t n = 0;
    std::string rest;
    if (split(key, "param_groups", &n, &rest)) {
      saved_groups = std::max(saved_groups, n + 1);
      ICCRT_CHECK_VALUE(n < groups_.size(), "optimizer.load_state_dict: the state has more parameter groups than ",
                        "the optimizer (", groups_.size(), ")");
      if (rest == "size") {
        ICCRT_CHECK_VALUE(value == static_cast<double>(groups_[n].params.size()),
                          "optimizer.load_state_dict: ", "parameter group ", n, " has ", value,
                          " parameters in the loaded state but ", groups_[n].params.size(), " in the optimizer");
      } else {
        ICCRT_CHECK_VALUE(defaults_.count(rest), "optimizer.load_state_dict: unknown option \"", rest,
                          "\" for parameter group ", n, " (state of another kind of optimizer?)");
        new_options[n][rest] = value;
      }
    } else if (split(key, "state", &n, &rest)) {
      ICCRT_CHECK_VALUE(n < total, "optimizer.load_state_dict: the state refers to parameter ", n,
                        ", but the optimizer holds ", total);
      new_state[n].scalars[rest] = value;
    } else {
      ICCRT_CHECK_VALUE(false, "optimizer.load_state_dict: unexpected entry \"", key, "\"");
    }
  }
  ICCRT_CHECK_VALUE(saved_groups == groups_.size(), "optimizer.load_state_dict: the loaded state has ", saved_groups,
                    " parameter groups, the optimizer has ", groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    ICCRT_CHECK_VALUE(saved.scalars.count(group_key(g, "size")), "optimizer.load_state_dict: the state has no \"",
                      group_key(g, "size"), "\" entry");
  }
  for (const auto& [key, t] : saved.tensors) {
    size_t n = 0;
    std::string rest;
    ICCRT_CHECK_VALUE(split(key, "state", &n, &rest), "optimizer.load_state_dict: unexpected tensor \"", key, "\"");
    ICCRT_CHECK_VALUE(n < total, "optimizer.load_state_dict: the state refers to parameter ", n,
                      ", but the optimizer holds ", total);
    ICCRT_CHECK_VALUE(t.defined(), "optimizer.load_state_dict: \"", key, "\" is an undefined tensor");
    const Tensor& p = *param_at[n];
    ICCRT_CHECK_SHAPE(t.shape() == p.shape(), "optimizer.load_state_dict: \"", key, "\" has shape ", t.shape(),
                      ", its parameter has shape ", p.shape());
    new_state[n].tensors[rest] = t;
  }

  autograd::NoGradGuard no_grad;
  for (size_t k = 0; k < total; ++k) {
    const Tensor& p = *param_at[k];
    for (auto& [name, t] : new_state[k].tensors) {
      const DType dt = is_floating(t.dtype()) ? p.dtype() : t.dtype();
      Tensor copy = empty(p.shape(), TensorOptions(dt, p.device()));  // the optimizer's own contiguous buffer
      copy.copy_(t);
      t = copy;
    }
  }
  for (size_t g = 0; g < groups_.size(); ++g)
    for (const auto& [name, value] : new_options[g]) groups_[g].options[name] = value;
  for (size_t k = 0; k < total; ++k) state(where[k].first, where[k].second) = std::move(new_state[k]);
}

}  // namespace iccrt::optim
