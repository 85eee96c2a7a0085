// Graph pieces: grad mode, Node bookkeeping, AccumulateGrad, SavedTensor and the recording helpers every
// differentiable op goes through.
#include "iccrt/autograd/node.hpp"

#include <atomic>

#include "iccrt/core/error.hpp"
#include "iccrt/ops/elementwise.hpp"

namespace iccrt::autograd {
namespace {

thread_local bool t_grad_enabled = true;
std::atomic<uint64_t> g_next_sequence_nr{0};

TensorGeometry geometry(const Tensor& t) { return TensorGeometry{t.shape(), t.dtype(), t.device()}; }

}  // namespace

Tensor checked_hook_result(const Tensor& r, const TensorGeometry& want, const char* what) {
  ICCRT_CHECK_SHAPE(r.shape() == want.shape, what, " returned a gradient of shape ", r.shape(),
                    " for a tensor of shape ", want.shape);
  ICCRT_CHECK_DEVICE(r.device() == want.device, what, " returned a gradient on ", r.device().str(),
                     " for a tensor on ", want.device.str());
  return r.dtype() == want.dtype ? r : r.to(want.dtype);
}

bool GradMode::is_enabled() { return t_grad_enabled; }
void GradMode::set_enabled(bool enabled) { t_grad_enabled = enabled; }

Node::Node() : sequence_nr(g_next_sequence_nr.fetch_add(1, std::memory_order_relaxed)) {}

AccumulateGrad::AccumulateGrad(std::shared_ptr<AutogradMeta> leaf, Tensor variable)
    : meta_(std::move(leaf)), variable_(std::move(variable)) {
  inputs_meta.clear();
  outputs_meta.push_back(geometry(variable_));
}

TensorList AccumulateGrad::apply(TensorList&& grads) {
  Tensor g = std::move(grads.at(0));
  if (!g.defined()) return {};
  // Copies: a hook may remove itself (or others) while it runs.
  const auto hooks = meta_->hooks;
  for (auto& [id, hook] : hooks) {
    Tensor r = hook(g);
    if (r.defined()) g = checked_hook_result(r, outputs_meta[0], "a hook on a leaf tensor");
  }
  {
    std::lock_guard<std::mutex> lock(meta_->mutex);
    NoGradGuard no_grad;
    if (!meta_->grad.defined()) {
      // Keep the incoming buffer when nobody else can see it; otherwise a copy, so that an in-place update of
      // one .grad never shows up in another (add's backward hands the same tensor to both operands).
      const bool exclusive = g.storage().use_count() == 1 && g.is_contiguous() && g.offset() == 0 &&
                             static_cast<int64_t>(g.storage()->nbytes()) == g.nbytes();
      meta_->grad = exclusive ? g.detach() : g.clone();
    } else {
      ops::add_(meta_->grad, g);
    }
  }
  const auto post_hooks = meta_->post_accumulate_hooks;
  for (auto& [id, hook] : post_hooks) hook(variable_);
  return {};
}

SavedTensor::SavedTensor(const Tensor& t) {
  if (!t.defined()) return;
  data_ = t.detach();
  version_ = t.version();
}

const Tensor& SavedTensor::get() const {
  ICCRT_CHECK_VALUE(!data_.defined() || data_.version() == version_,
                    "one of the tensors needed for gradient computation has been modified by an in-place operation "
                    "(its version is ",
                    data_.version(), ", the backward pass expected ", version_,
                    "); use an out-of-place op, or clone() it before modifying it");
  return data_;
}

TensorList FunctionNode::apply(TensorList&& grads) {
  ICCRT_CHECK_VALUE(fn_ != nullptr, "trying to backward through the graph a second time (", name_,
                    " was released after the first backward freed its part of the graph); pass retain_graph=true to "
                    "the first backward if you need to run it twice");
  return fn_(grads);
}

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool any_requires_grad(const TensorList& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  const auto& meta = t.autograd_meta();
  if (meta->grad_fn) return Edge{meta->grad_fn, meta->output_nr};
  std::lock_guard<std::mutex> lock(meta->mutex);
  std::shared_ptr<Node> acc = meta->grad_accumulator.lock();
  if (!acc) {
    // The accumulator holds the meta, not the other way round (weak_ptr), so a leaf's graph dies with it.
    Tensor handle = t.detach();
    handle.mutable_autograd_meta() = meta;
    acc = std::make_shared<AccumulateGrad>(meta, handle);
    meta->grad_accumulator = acc;
  }
  return Edge{acc, 0};
}

TensorList record(std::string name, const TensorList& inputs, TensorList outputs, BackwardFn fn) {
  if (!any_requires_grad(inputs)) return outputs;
  auto node = std::make_shared<FunctionNode>(std::move(name), std::move(fn));
  node->next_edges.reserve(inputs.size());
  node->inputs_meta.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    node->next_edges.push_back(gradient_edge(in));
    node->inputs_meta.push_back(in.defined() ? geometry(in) : TensorGeometry{});
  }
  for (uint32_t i = 0; i < outputs.size(); ++i) {
    Tensor& out = outputs[i];
    node->outputs_meta.push_back(geometry(out));
    // Integer / bool outputs (indices, masks) carry no gradient.
    if (!is_floating(out.dtype())) continue;
    auto meta = std::make_shared<AutogradMeta>();
    meta->requires_grad = true;
    meta->grad_fn = node;
    meta->output_nr = i;
    out.mutable_autograd_meta() = std::move(meta);
  }
  return outputs;
}

Tensor record(std::string name, const TensorList& inputs, Tensor output,
              std::function<TensorList(const Tensor& grad)> fn) {
  if (!any_requires_grad(inputs)) return output;
  TensorList outs = record(std::move(name), inputs, TensorList{std::move(output)},
                           [fn = std::move(fn)](const TensorList& g) { return fn(g[0]); });
  return std::move(outs[0]);
}

}  // namespace iccrt::autograd
