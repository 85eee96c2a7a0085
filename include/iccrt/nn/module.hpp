#pragma once
// nn::Module: the base of every layer. A module owns named parameters (leaf tensors that require grad by
// default), buffers (tensors that are state but not trained, e.g. running statistics) and child modules, held by
// std::shared_ptr so a sub-module can be shared or kept by the caller. Dotted names ("blocks.0.attn.out_proj.weight")
// address everything in the tree, in registration order: a module's own parameters, then its buffers, then each
// child's entries under the child's name.
//
// Note [Parameter slots]: register_parameter / register_buffer return a reference to the module's own slot, which
// stays valid for the module's lifetime (slots never move). Layers keep that reference as a public member
// (Linear::weight). to() replaces the tensor in the slot (a new leaf on the new device / dtype), so the members see
// the new tensor, but handles copied out earlier (e.g. by an optimizer) keep the old one: move a model with to()
// before building its optimizer. load_state_dict() copies values into the existing tensors instead, so it keeps
// every handle valid.
#include <deque>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "iccrt/core/device.hpp"
#include "iccrt/core/dtype.hpp"
#include "iccrt/core/export.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt::nn {

// Name -> tensor in a fixed order; what state_dict() returns and save_safetensors() takes.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

// What load_state_dict(..., strict = false) skipped.
struct LoadStateResult {
  std::vector<std::string> missing_keys;     // expected by the module, absent from the state dict
  std::vector<std::string> unexpected_keys;  // in the state dict, unknown to the module
};

class ICCRT_API Module {
 public:
  // type_name is what str() prints for this module ("Linear", "GPT", ...).
  explicit Module(std::string type_name = "Module");
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& type_name() const { return type_name_; }

  // ---- registration ----
  // Names must be non-empty, contain no '.', and be unique among this module's parameters, buffers and children
  // (ValueError otherwise).
  // A parameter must be a leaf tensor (ValueError for a tensor with history) of a floating dtype when
  // requires_grad; an undefined tensor registers an absent parameter (like an optional bias): it keeps its name
  // but is skipped by parameters() and state_dict(). The returned slot is valid for the module's lifetime.
  Tensor& register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  // Buffers are saved in state_dict() when persistent; undefined ones are skipped like absent parameters.
  Tensor& register_buffer(const std::string& name, Tensor value, bool persistent = true);
  // Adds `module` as a child (null raises ValueError) and returns it, typed as given.
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // ---- the tree ----
  // Parameters of this module and (recurse) of its descendants. A tensor registered in several places is
  // listed once, under its first name.
  std::vector<Tensor> parameters(bool recurse = true) const;
  StateDict named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  StateDict named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  // This module (name "") and every descendant, depth first in registration order.
  std::vector<std::pair<std::string, Module*>> named_modules();
  // The parameter or buffer at a dotted name; ValueError when there is none.
  Tensor& find(const std::string& dotted_name);
  // Number of elements over parameters() (trainable_only: those that require grad).
  int64_t num_parameters(bool trainable_only = false) const;

  // ---- mode ----
  // Sets training mode here and in every descendant (Dropout reads it).
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // ---- gradients ----
  // Drops every parameter's .grad (set_to_none) or zeroes it in place.
  void zero_grad(bool set_to_none = true);

  // ---- placement (Note [Parameter slots]) ----
  // Moves parameters and buffers to `device` and converts the floating ones to `dtype` (integer and bool buffers
  // keep their dtype; a floating dtype is required, DTypeError otherwise). Parameters stay leaves with their
  // requires_grad; an existing .grad is converted along. Tensors already in place are kept as they are.
  void to(Device device);
  void to(DType dtype);
  void to(Device device, DType dtype);

  // ---- state ----
  // Parameters and persistent buffers under their dotted names, in tree order. The tensors share storage with the
  // module's (detached: no autograd state); clone them to keep a snapshot.
  StateDict state_dict() const;
  // Copies values from `state` into this module's parameters and persistent buffers (crossing devices as
  // needed), after checking everything first, so a failed load changes nothing:
  //  - duplicate names in `state`: ValueError;
  //  - strict: any missing or unexpected key raises ValueError listing all of them;
  //  - a value whose shape differs raises ShapeError, a dtype that differs DTypeError, naming the key.
  // Non-strict loads skip missing and unexpected keys and return them.
  LoadStateResult load_state_dict(const StateDict& state, bool strict = true);

  // Multi-line summary: the module tree with each module's settings (extra_repr()).
  std::string str() const;

 protected:
  // One line of settings for str() ("in_features=4, out_features=2, bias=true").
  virtual std::string extra_repr() const { return ""; }

 private:
  struct Slot {
    std::string name;
    Tensor value;
    bool persistent = true;  // buffers only
  };
  void check_new_name(const std::string& name, const char* what) const;
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect(const std::string& prefix, bool recurse, bool params, bool state_only, StateDict& out) const;
  void print(std::ostream& os, const std::string& name, int indent) const;
  void convert(const Device* device, const DType* dtype);

  std::string type_name_;
  bool training_ = true;
  std::deque<Slot> params_;  // a deque: references to slots stay valid as more are added
  std::deque<Slot> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

ICCRT_API std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace iccrt::nn
