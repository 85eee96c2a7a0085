#pragma once
// optim::Optimizer: the base of the optimizers (torch.optim's model). Parameters come in groups, each with its
// own hyperparameters (a name -> number map: "lr", "weight_decay", ...); options a group does not set come from
// the optimizer's defaults. Per-parameter state (momentum buffers, moment estimates, step counts) lives in the
// optimizer, created on a parameter's first step.
//
// Parameters are held as handles (Note [Tensor identity]): build the optimizer after the model is on its final
// device and dtype (Note [Parameter slots] in nn/module.hpp).
//
// A state dict is tensors plus numbers under flat names, so it can be written with save_safetensors (the
// numbers go into the metadata, see OptimizerState::metadata()):
//   "state.<i>.<name>"          state of parameter i, a tensor ("state.3.exp_avg") or a number ("state.3.step");
//                               i counts parameters across the groups, in order
//   "param_groups.<g>.<option>" group g's hyperparameters
//   "param_groups.<g>.size"     how many parameters group g holds
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "iccrt/core/export.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt::optim {

using Options = std::map<std::string, double>;

struct ParamGroup {
  std::vector<Tensor> params;
  Options options;  // missing entries are filled from the optimizer's defaults when the group is added
  ParamGroup() = default;
  ParamGroup(std::vector<Tensor> p, Options o = {}) : params(std::move(p)), options(std::move(o)) {}
};

// An optimizer's saved state: tensors and numbers by name (layout above).
struct ICCRT_API OptimizerState {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, double> scalars;

  // The scalars as safetensors metadata (decimal strings that read back to the same doubles).
  std::map<std::string, std::string> metadata() const;
  // The inverse: tensors and metadata as load_safetensors returns them. A value that is not a number raises
  // ValueError naming the key.
  static OptimizerState from(std::vector<std::pair<std::string, Tensor>> tensors,
                             const std::map<std::string, std::string>& metadata);
};

class ICCRT_API Optimizer {
 public:
  // Needs at least one parameter overall; every parameter a leaf of a floating dtype, in one group only
  // (ValueError otherwise). Each group's options must be among the defaults' names (ValueError for unknown ones).
  Optimizer(std::vector<ParamGroup> groups, Options defaults);
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient; parameters without one are skipped.
  virtual void step() = 0;
  // Drops every parameter's .grad (set_to_none) or zeroes it in place.
  void zero_grad(bool set_to_none = true);

  void add_param_group(ParamGroup group);
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  const Options& defaults() const { return defaults_; }
  // Group g's option (ValueError when the group has no such option, IndexError for a bad g).
  double option(size_t group, const std::string& name) const;
  // Sets "lr" in every group.
  void set_lr(double lr);

  // Tensors are the optimizer's own (not copies): save them before the next step, or clone them.
  OptimizerState state_dict() const;
  // Restores state and hyperparameters saved by state_dict() of an optimizer of the same kind over parameters of
  // the same shapes: the number of groups and their sizes must match (ValueError), state tensors must have their
  // parameter's shape (ShapeError); tensors are copied onto the parameter's device (floating ones in its dtype).
  // Nothing changes when a check fails.
  void load_state_dict(const OptimizerState& state);

 protected:
  // Per-parameter state, created empty when a parameter is added.
  struct ParamState {
    std::map<std::string, Tensor> tensors;
    std::map<std::string, double> scalars;
    bool empty() const { return tensors.empty() && scalars.empty(); }
  };
  // State of parameter i of group g (made empty on first use, also for parameters appended to a group's list
  // after it was added).
  ParamState& state(size_t group, size_t i);
  // Checks shared by the subclasses' constructors: a named option must satisfy a condition (ValueError otherwise).
  static void check_option(bool ok, const char* optimizer, const std::string& name, double value);

 private:
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<ParamState>> state_;  // [group][param]
  Options defaults_;
};

}  // namespace iccrt::optim
