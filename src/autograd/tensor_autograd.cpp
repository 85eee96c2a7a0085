// Tensor's autograd members (declared in include/iccrt/core/tensor.hpp).
#include <atomic>
#include <limits>

#include "iccrt/autograd/engine.hpp"
#include "iccrt/autograd/functions.hpp"
#include "iccrt/autograd/node.hpp"
#include "iccrt/core/error.hpp"

namespace iccrt {
namespace {

std::atomic<int64_t> g_next_hook_id{1};

const std::shared_ptr<autograd::Node>& null_node() {
  static const std::shared_ptr<autograd::Node> none;
  return none;
}

}  // namespace

bool Tensor::requires_grad() const { return autograd_ && autograd_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool requires_grad) {
  ICCRT_CHECK(defined(), "requires_grad_ on an undefined tensor");
  if (!requires_grad) {
    ICCRT_CHECK_VALUE(is_leaf(), "requires_grad can only be turned off for leaf tensors; use detach() to get a "
                                 "tensor without history");
    if (autograd_) autograd_->requires_grad = false;
    return *this;
  }
  ICCRT_CHECK_DTYPE(is_floating(dtype_), "only tensors of a floating dtype can require gradients, got ",
                    dtype_name(dtype_));
  if (!autograd_) autograd_ = std::make_shared<autograd::AutogradMeta>();
  autograd_->requires_grad = true;
  return *this;
}

bool Tensor::is_leaf() const { return !autograd_ || !autograd_->grad_fn; }

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  return autograd_ ? autograd_->grad_fn : null_node();
}

uint32_t Tensor::output_nr() const { return autograd_ ? autograd_->output_nr : 0; }

Tensor Tensor::grad() const {
  if (!autograd_) return Tensor();
  std::lock_guard<std::mutex> lock(autograd_->mutex);
  return autograd_->grad;
}

void Tensor::set_grad(const Tensor& grad) {
  ICCRT_CHECK(defined(), "setting .grad of an undefined tensor");
  if (grad.defined()) {
    ICCRT_CHECK_SHAPE(grad.shape() == shape_, "assigned grad has shape ", grad.shape(), " but the tensor has shape ",
                      shape_);
    ICCRT_CHECK_DTYPE(grad.dtype() == dtype_, "assigned grad has dtype ", dtype_name(grad.dtype()),
                      " but the tensor has dtype ", dtype_name(dtype_));
    ICCRT_CHECK_DEVICE(grad.device() == device(), "assigned grad is on ", grad.device().str(),
                       " but the tensor is on ", device().str());
  }
  if (!autograd_) {
    if (!grad.defined()) return;
    autograd_ = std::make_shared<autograd::AutogradMeta>();
  }
  std::lock_guard<std::mutex> lock(autograd_->mutex);
  autograd_->grad = grad.defined() ? grad.detach() : Tensor();
}

Tensor Tensor::detach() const { return Tensor(storage_, shape_, strides_, offset_, dtype_); }

void Tensor::backward() const { backward(Tensor(), false); }

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd::backward({*this}, {gradient}, retain_graph);
}

void Tensor::retain_grad() const {
  ICCRT_CHECK_VALUE(requires_grad(), "retain_grad() on a tensor that does not require grad");
  if (is_leaf() || autograd_->retains_grad) return;  // leaves keep their grad anyway
  autograd_->retains_grad = true;
  std::weak_ptr<autograd::AutogradMeta> weak = autograd_;
  // The largest id: it runs after the user's hooks, so .grad shows the gradient they produced.
  autograd_->grad_fn->output_hooks[autograd_->output_nr][std::numeric_limits<int64_t>::max()] =
      [weak](const Tensor& g) {
    if (auto meta = weak.lock()) {
      std::lock_guard<std::mutex> lock(meta->mutex);
      meta->grad = meta->grad.defined() ? meta->grad + g : g.clone();
    }
    return Tensor();
  };
}

int64_t Tensor::register_hook(std::function<Tensor(const Tensor&)> fn) const {
  ICCRT_CHECK_VALUE(requires_grad(), "cannot register a hook on a tensor that does not require grad");
  const int64_t id = g_next_hook_id.fetch_add(1);
  if (is_leaf()) autograd_->hooks[id] = std::move(fn);
  else autograd_->grad_fn->output_hooks[autograd_->output_nr][id] = std::move(fn);
  return id;
}

void Tensor::remove_hook(int64_t handle) const {
  if (autograd_) autograd::remove_hook(*autograd_, handle);
}

namespace autograd {
void remove_hook(AutogradMeta& meta, int64_t handle) {
  meta.hooks.erase(handle);
  meta.post_accumulate_hooks.erase(handle);
  if (meta.grad_fn) meta.grad_fn->output_hooks[meta.output_nr].erase(handle);
}
}  // namespace autograd

int64_t Tensor::register_post_accumulate_grad_hook(std::function<void(const Tensor&)> fn) const {
  ICCRT_CHECK_VALUE(requires_grad() && is_leaf(),
                    "post-accumulate-grad hooks can only be registered on leaf tensors that require grad");
  const int64_t id = g_next_hook_id.fetch_add(1);
  autograd_->post_accumulate_hooks[id] = std::move(fn);
  return id;
}

int64_t Tensor::version() const { return storage_ ? static_cast<int64_t>(storage_->version()) : 0; }

}  // namespace iccrt
