#pragma once
// The autograd graph. Every recorded op makes one Node whose inputs are the gradients of its outputs and whose
// outputs (next_edges) lead to the Nodes that made its inputs. Leaves (user tensors with requires_grad) end in
// an AccumulateGrad node that adds into their .grad. The engine (engine.hpp) runs Nodes in reverse order.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "iccrt/autograd/grad_mode.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt::autograd {

using TensorList = std::vector<Tensor>;
using TensorHook = std::function<Tensor(const Tensor&)>;
using PostAccumulateHook = std::function<void(const Tensor&)>;

class Node;

// Where a gradient goes: input `input_nr` of `fn` (null fn: the input needs no gradient).
struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;
  bool valid() const { return fn != nullptr; }
};

// What the engine needs to know of a Node's outputs (the tensors it produced) to check the gradients that
// come back and to make zeros for outputs that got none.
struct TensorGeometry {
  Shape shape;
  DType dtype = DType::Float32;
  Device device;
};

// Per-variable autograd state, shared by the copies of one Tensor handle (Note [Tensor identity]).
struct ICCRT_API AutogradMeta {
  bool requires_grad = false;
  bool retains_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  uint32_t output_nr = 0;
  std::weak_ptr<Node> grad_accumulator;  // leaves: their AccumulateGrad, made on first use
  // Leaves: hooks on the incoming gradient and after accumulation (non-leaf hooks live on the grad_fn).
  std::map<int64_t, TensorHook> hooks;
  std::map<int64_t, PostAccumulateHook> post_accumulate_hooks;
  std::mutex mutex;  // guards grad when several backward passes run at once
};

class ICCRT_API Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  virtual ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Gradients of the inputs (one per next_edge; undefined where none) from the gradients of the outputs
  // (one per output; the engine fills missing ones with zeros).
  virtual TensorList apply(TensorList&& grad_outputs) = 0;
  virtual std::string name() const = 0;
  // Frees what the backward needs (saved tensors); a later apply raises.
  virtual void release() {}

  std::vector<Edge> next_edges;
  std::vector<TensorGeometry> inputs_meta;   // geometry of each input, to check returned gradients
  std::vector<TensorGeometry> outputs_meta;  // geometry of each output
  // Hooks on the gradient of output i (register_hook on a non-leaf tensor), run before apply.
  std::map<uint32_t, std::map<int64_t, TensorHook>> output_hooks;
  // Higher runs first among ready nodes: later ops' backward before earlier ones'.
  const uint64_t sequence_nr;
};

// A gradient sink for one leaf: adds into leaf.grad, then runs its post-accumulate hooks.
class ICCRT_API AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<AutogradMeta> leaf, Tensor variable);
  TensorList apply(TensorList&& grads) override;
  std::string name() const override { return "AccumulateGrad"; }
  const std::shared_ptr<AutogradMeta>& leaf() const { return meta_; }

 private:
  std::shared_ptr<AutogradMeta> meta_;
  Tensor variable_;  // a handle without data ownership concerns: shares meta_, used to call hooks with
};

// Note [Saved tensors]: a backward formula keeps its inputs or outputs as SavedTensors: the data without the
// autograd state (no reference cycle through grad_fn) plus the storage version at save time. Using one after an
// in-place write to its storage raises instead of computing a wrong gradient.
class ICCRT_API SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  const Tensor& get() const;  // raises when the storage was written in place since
  bool defined() const { return data_.defined(); }

 private:
  Tensor data_;
  int64_t version_ = 0;
};

// A Node whose backward is a function; what the differentiable ops and custom functions use.
// fn gets one gradient per output (zeros filled in) and returns one per input (undefined for no gradient).
using BackwardFn = std::function<TensorList(const TensorList& grad_outputs)>;

class ICCRT_API FunctionNode : public Node {
 public:
  FunctionNode(std::string name, BackwardFn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  TensorList apply(TensorList&& grads) override;
  std::string name() const override { return name_; }
  void release() override { fn_ = nullptr; }

 private:
  std::string name_;
  BackwardFn fn_;
};

// Unregisters hook `handle` (any kind) of the variable `meta` belongs to; unknown handles are ignored.
ICCRT_API void remove_hook(AutogradMeta& meta, int64_t handle);

// A hook's replacement gradient checked against the tensor it belongs to (shape, device; dtype cast).
ICCRT_API Tensor checked_hook_result(const Tensor& result, const TensorGeometry& want, const char* what);

// True when grad mode is on and some input requires grad: the op must record.
ICCRT_API bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
ICCRT_API bool any_requires_grad(const TensorList& inputs);

// Records `outputs` as made from `inputs` by a node running `fn`: sets each output's grad_fn. Inputs that do not
// require grad get no edge (and fn's result for them is ignored). No-op (returns outputs as they are) when
// nothing requires grad or grad mode is off. Outputs must be fresh tensors (no autograd state of their own).
ICCRT_API TensorList record(std::string name, const TensorList& inputs, TensorList outputs, BackwardFn fn);
// One-output form: fn gets the output's gradient.
ICCRT_API Tensor record(std::string name, const TensorList& inputs, Tensor output,
                        std::function<TensorList(const Tensor& grad)> fn);

// The edge a gradient for `t` should flow into (its grad_fn, or its leaf's AccumulateGrad); invalid when t does
// not require grad.
ICCRT_API Edge gradient_edge(const Tensor& t);

}  // namespace iccrt::autograd
