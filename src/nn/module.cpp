// nn::Module (include/iccrt/nn/module.hpp): registration, the dotted-name tree walks, modes, placement, state.
#include "iccrt/nn/module.hpp"

#include <algorithm>
#include <ostream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "iccrt/autograd/grad_mode.hpp"
#include "iccrt/core/error.hpp"

namespace iccrt::nn {
namespace {

// Two handles of one variable: the same autograd state, or (without one) the same view of the same storage.
bool same_variable(const Tensor& a, const Tensor& b) {
  if (a.autograd_meta() || b.autograd_meta()) return a.autograd_meta() == b.autograd_meta();
  return a.storage() == b.storage() && a.offset() == b.offset() && a.shape() == b.shape() &&
         a.strides() == b.strides() && a.dtype() == b.dtype();
}

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + ("\"" + names[i] + "\"");
  return s;
}

std::string dotted(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  return name.empty() ? prefix : prefix + "." + name;
}

// Old -> new tensors of one to() call, so a tensor registered in several places stays one tensor.
using ConvertMemo = std::vector<std::pair<Tensor, Tensor>>;

}  // namespace

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}
Module::~Module() = default;

void Module::check_new_name(const std::string& name, const char* what) const {
  ICCRT_CHECK_VALUE(!name.empty(), type_name_, ": ", what, " name must not be empty");
  ICCRT_CHECK_VALUE(name.find('.') == std::string::npos, type_name_, ": ", what, " name \"", name,
                    "\" must not contain '.' (dots separate the levels of the module tree)");
  auto taken = [&](const std::deque<Slot>& slots) {
    return std::any_of(slots.begin(), slots.end(), [&](const Slot& s) { return s.name == name; });
  };
  const bool child = std::any_of(children_.begin(), children_.end(), [&](const auto& c) { return c.first == name; });
  ICCRT_CHECK_VALUE(!taken(params_) && !taken(buffers_) && !child, type_name_, ": cannot register ", what, " \"", name,
                    "\": the name is already taken by a ",
                    taken(params_)    ? "parameter"
                    : taken(buffers_) ? "buffer"
                                      : "child module");
}

Tensor& Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
  check_new_name(name, "parameter");
  if (value.defined()) {
    ICCRT_CHECK_VALUE(value.is_leaf(), type_name_, ": parameter \"", name,
                      "\" must be a leaf tensor (it was computed by a recorded op); pass t.detach()");
    ICCRT_CHECK_DTYPE(!requires_grad || is_floating(value.dtype()), type_name_, ": parameter \"", name,
                      "\" requires grad, so it needs a floating dtype, got ", dtype_name(value.dtype()));
    // On the handle that goes into the slot, so it and every copy taken later are the same variable.
    if (requires_grad || value.requires_grad()) value.set_requires_grad(requires_grad);
  }
  params_.push_back(Slot{name, std::move(value), true});
  return params_.back().value;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value, bool persistent) {
  check_new_name(name, "buffer");
  buffers_.push_back(Slot{name, std::move(value), persistent});
  return buffers_.back().value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, "module");
  ICCRT_CHECK_VALUE(module != nullptr, type_name_, ": cannot register a null module as \"", name, "\"");
  ICCRT_CHECK_VALUE(module.get() != this, type_name_, ": a module cannot be its own child (\"", name, "\")");
  children_.emplace_back(name, std::move(module));
}

// ---- tree walks ---------------------------------------------------------------------------------------------

void Module::collect(const std::string& prefix, bool recurse, bool params, bool state_only, StateDict& out) const {
  if (state_only || params) {
    for (const Slot& s : params_)
      if (s.value.defined()) out.emplace_back(dotted(prefix, s.name), s.value);
  }
  if (state_only || !params) {
    for (const Slot& s : buffers_)
      if (s.value.defined() && (s.persistent || !state_only)) out.emplace_back(dotted(prefix, s.name), s.value);
  }
  if (!recurse) return;
  for (const auto& [name, child] : children_) child->collect(dotted(prefix, name), true, params, state_only, out);
}

StateDict Module::named_parameters(bool recurse) const {
  StateDict all;
  collect("", recurse, true, false, all);
  StateDict unique;
  for (auto& entry : all) {
    const bool seen =
        std::any_of(unique.begin(), unique.end(), [&](const auto& u) { return same_variable(u.second, entry.second); });
    if (!seen) unique.push_back(std::move(entry));
  }
  return unique;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& entry : named_parameters(recurse)) out.push_back(std::move(entry.second));
  return out;
}

StateDict Module::named_buffers(bool recurse) const {
  StateDict out;
  collect("", recurse, false, false, out);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& entry : named_buffers(recurse)) out.push_back(std::move(entry.second));
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& c : children_) out.push_back(c.second);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (const auto& [name, child] : children_) {
    for (const auto& [sub, m] : child->named_modules()) out.emplace_back(dotted(name, sub), m);
  }
  return out;
}

Tensor& Module::find(const std::string& dotted_name) {
  const size_t dot = dotted_name.find('.');
  if (dot == std::string::npos) {
    for (Slot& s : params_)
      if (s.name == dotted_name) return s.value;
    for (Slot& s : buffers_)
      if (s.name == dotted_name) return s.value;
  } else {
    const std::string head = dotted_name.substr(0, dot);
    for (const auto& [name, child] : children_)
      if (name == head) return child->find(dotted_name.substr(dot + 1));
  }
  detail::throw_error<ValueError>(detail::str(type_name_, ": no parameter or buffer named \"", dotted_name, "\""));
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const Tensor& p : parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

// ---- mode and gradients -----------------------------------------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (const auto& c : children_) c.second->train(on);
}

void Module::zero_grad(bool set_to_none) {
  autograd::NoGradGuard no_grad;
  for (Tensor& p : parameters()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none)
      p.set_grad(Tensor());
    else
      g.zero_();
  }
}

// ---- placement ------------------------------------------------------------------------------------------------

void Module::to(Device device) { convert(&device, nullptr); }
void Module::to(DType dtype) { convert(nullptr, &dtype); }
void Module::to(Device device, DType dtype) { convert(&device, &dtype); }

void Module::convert(const Device* device, const DType* dtype) {
  ICCRT_CHECK_DTYPE(dtype == nullptr || is_floating(*dtype), type_name_,
                    ".to: modules convert to floating dtypes only, got ", dtype ? dtype_name(*dtype) : "");
  autograd::NoGradGuard no_grad;
  ConvertMemo memo;
  auto convert_slot = [&](Tensor& t, bool is_param) {
    if (!t.defined()) return;
    const Device dev = device ? *device : t.device();
    const DType dt = dtype && is_floating(t.dtype()) ? *dtype : t.dtype();
    if (dev == t.device() && dt == t.dtype()) return;
    for (const auto& [old_t, new_t] : memo) {
      if (same_variable(old_t, t)) {
        t = new_t;
        return;
      }
    }
    Tensor n = t.to(dev, dt).detach();
    if (is_param && t.requires_grad()) {
      n.set_requires_grad(true);
      const Tensor g = t.grad();
      if (g.defined()) n.set_grad(g.to(dev, dt));
    }
    memo.emplace_back(t, n);
    t = n;
  };
  for (auto& [name, m] : named_modules()) {
    for (Slot& s : m->params_) convert_slot(s.value, true);
    for (Slot& s : m->buffers_) convert_slot(s.value, false);
  }
}

// ---- state ------------------------------------------------------------------------------------------------------

StateDict Module::state_dict() const {
  StateDict out;
  collect("", true, true, true, out);
  for (auto& entry : out) entry.second = entry.second.detach();
  return out;
}

LoadStateResult Module::load_state_dict(const StateDict& state, bool strict) {
  const StateDict own = state_dict();
  std::unordered_map<std::string, size_t> given;
  for (size_t i = 0; i < state.size(); ++i) {
    ICCRT_CHECK_VALUE(given.emplace(state[i].first, i).second, type_name_, ".load_state_dict: key \"", state[i].first,
                      "\" appears more than once in the state dict");
  }
  LoadStateResult result;
  std::unordered_set<std::string> expected;
  for (const auto& [name, t] : own) {
    expected.insert(name);
    if (!given.count(name)) result.missing_keys.push_back(name);
  }
  for (const auto& [name, t] : state)
    if (!expected.count(name)) result.unexpected_keys.push_back(name);
  if (strict && (!result.missing_keys.empty() || !result.unexpected_keys.empty())) {
    std::ostringstream msg;
    msg << type_name_ << ".load_state_dict: the state dict does not match the module:";
    if (!result.missing_keys.empty()) msg << " missing keys: " << join(result.missing_keys) << ";";
    if (!result.unexpected_keys.empty()) msg << " unexpected keys: " << join(result.unexpected_keys) << ";";
    msg << " (load with strict = false to skip them)";
    throw ValueError(msg.str());
  }
  // Everything is checked before anything is written, so a failed load leaves the module as it was.
  for (const auto& [name, dst] : own) {
    auto it = given.find(name);
    if (it == given.end()) continue;
    const Tensor& src = state[it->second].second;
    ICCRT_CHECK_VALUE(src.defined(), type_name_, ".load_state_dict: \"", name, "\" is an undefined tensor");
    ICCRT_CHECK_SHAPE(src.shape() == dst.shape(), type_name_, ".load_state_dict: size mismatch for \"", name,
                      "\": the state dict has shape ", src.shape(), ", the module expects ", dst.shape());
    ICCRT_CHECK_DTYPE(src.dtype() == dst.dtype(), type_name_, ".load_state_dict: dtype mismatch for \"", name,
                      "\": the state dict has ", dtype_name(src.dtype()), ", the module expects ",
                      dtype_name(dst.dtype()), " (convert the module with to() or the tensors first)");
  }
  autograd::NoGradGuard no_grad;
  for (const auto& [name, dst] : own) {
    auto it = given.find(name);
    if (it == given.end()) continue;
    Tensor target = dst;  // shares the module's storage (state_dict() detaches without copying)
    target.copy_(state[it->second].second);
  }
  return result;
}

// ---- printing ---------------------------------------------------------------------------------------------------

void Module::print(std::ostream& os, const std::string& name, int indent) const {
  const std::string pad(static_cast<size_t>(indent), ' ');
  os << pad;
  if (!name.empty()) os << "(" << name << "): ";
  os << type_name_ << "(" << extra_repr();
  if (children_.empty()) {
    os << ")";
    return;
  }
  os << "\n";
  for (const auto& [child_name, child] : children_) {
    child->print(os, child_name, indent + 2);
    os << "\n";
  }
  os << pad << ")";
}

std::string Module::str() const {
  std::ostringstream os;
  print(os, "", 0);
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.str(); }

}  // namespace iccrt::nn
