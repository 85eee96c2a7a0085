#pragma once
// Tensor: a typed, strided view into a Storage. Copying a Tensor copies the view, not the data.
// Views (view, reshape when possible, permute, transpose, narrow, slice, select, expand, squeeze, unsqueeze)
// share storage; contiguous(), clone() and to() copy when they must.
#include <cstdint>
#include <functional>
#include <memory>
#include <initializer_list>
#include <string>
#include <vector>

#include "iccrt/core/device.hpp"
#include "iccrt/core/dtype.hpp"
#include "iccrt/core/export.hpp"
#include "iccrt/core/scalar.hpp"
#include "iccrt/core/storage.hpp"

namespace iccrt {

namespace autograd {
struct AutogradMeta;
class Node;
}  // namespace autograd

using Shape = std::vector<int64_t>;
constexpr int kMaxDims = 12;  // tensors have at most this many dimensions

struct TensorOptions {
  DType dtype = DType::Float32;
  Device device = Device();
  TensorOptions() = default;
  TensorOptions(DType t) : dtype(t) {}
  TensorOptions(Device d) : device(d) {}
  TensorOptions(DType t, Device d) : dtype(t), device(d) {}
};

// Note [Tensor identity]: a Tensor is a handle. Copies of a handle are the same variable for autograd (they
// share requires_grad, .grad and the graph position, held in AutogradMeta); views and op results are new
// variables. Give a tensor requires_grad before taking copies of it that should see it (as for parameters).
class ICCRT_API Tensor {
 public:
  Tensor() = default;  // undefined tensor: defined() is false, most methods raise
  Tensor(Storage storage, Shape shape, Shape strides, int64_t offset, DType dtype);

  bool defined() const { return storage_ != nullptr; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }  // in elements
  int64_t size(int64_t d) const;                       // negative d counts from the end
  int64_t stride(int64_t d) const;
  int64_t offset() const { return offset_; }           // in elements, into storage
  int64_t numel() const;
  DType dtype() const { return dtype_; }
  int64_t itemsize() const { return iccrt::itemsize(dtype_); }
  int64_t nbytes() const { return numel() * itemsize(); }
  Device device() const;
  const Storage& storage() const { return storage_; }
  void* data_ptr() const;  // address of element [0, 0, ...]
  template <class T>
  T* data() const {
    ICCRT_CHECK_DTYPE(DTypeOf<T>::value == dtype_, "data<", dtype_name(DTypeOf<T>::value), ">() on a tensor of dtype ",
                      dtype_name(dtype_));
    return static_cast<T*>(data_ptr());
  }
  bool is_contiguous() const;
  std::string str() const;  // "Tensor(shape=[2, 3], dtype=float32, device=cpu)"

  // ---- views (no copy) ----
  Tensor view(Shape shape) const;     // needs compatible strides (ShapeError otherwise); one -1 allowed
  Tensor reshape(Shape shape) const;  // a view when possible, else a contiguous copy
  Tensor flatten() const { return reshape({-1}); }
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor t() const;  // 2-D transpose (0-D and 1-D unchanged)
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;  // Python slice semantics
  Tensor select(int64_t dim, int64_t index) const;                                // removes `dim`
  Tensor expand(Shape shape) const;  // -1 keeps a size; new leading dims allowed; size-1 dims broadcast
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor as_strided(Shape shape, Shape strides, int64_t offset) const;  // checked against the storage bounds

  // ---- copies ----
  Tensor contiguous() const;  // itself when already contiguous
  Tensor clone() const;       // always a new contiguous tensor
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor to(Device device, DType dtype) const;  // itself when nothing changes
  Tensor& copy_(const Tensor& src);             // src broadcasts to this; casts dtype; crosses devices
  Tensor& fill_(Scalar value);
  Tensor& zero_() { return fill_(0); }

  // ---- autograd (src/autograd/tensor_autograd.cpp; see include/iccrt/autograd/) ----
  bool requires_grad() const;
  // Leaf tensors of a floating dtype only (DTypeError otherwise; ValueError on a non-leaf).
  Tensor& set_requires_grad(bool requires_grad = true);
  bool is_leaf() const;                                    // no grad_fn: created by the user, not by a recorded op
  const std::shared_ptr<autograd::Node>& grad_fn() const;  // null for leaves
  uint32_t output_nr() const;                              // which output of grad_fn this tensor is
  Tensor grad() const;                                     // undefined until a backward pass reaches it
  void set_grad(const Tensor& grad);                       // same shape, dtype and device (or undefined)
  // The same data without history: shares storage, requires_grad false.
  Tensor detach() const;
  // Accumulates d(this)/d(leaf) * gradient into every leaf's .grad. gradient may be omitted for one-element
  // tensors (1 is used). retain_graph keeps the saved tensors for another backward.
  void backward() const;
  void backward(const Tensor& gradient, bool retain_graph = false) const;
  void retain_grad() const;  // also fill .grad of this non-leaf
  // fn(grad) runs when this tensor's gradient is computed; a defined return value replaces the gradient.
  // Returns a handle for remove_hook.
  int64_t register_hook(std::function<Tensor(const Tensor&)> fn) const;
  void remove_hook(int64_t handle) const;
  // Leaves only: fn(tensor) runs after the gradient has been accumulated into .grad (data parallel starts its
  // bucket all-reduce on these).
  int64_t register_post_accumulate_grad_hook(std::function<void(const Tensor&)> fn) const;
  int64_t version() const;  // in-place writes to the storage so far
  const std::shared_ptr<autograd::AutogradMeta>& autograd_meta() const { return autograd_; }
  std::shared_ptr<autograd::AutogradMeta>& mutable_autograd_meta() { return autograd_; }

  // ---- element access (slow path; for tests, printing and .item()) ----
  Scalar item() const;  // one-element tensors only
  template <class T>
  T item() const {
    return item().to<T>();
  }
  double get(const std::vector<int64_t>& index) const;  // element as double (any device)

 private:
  Storage storage_;
  Shape shape_, strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::Float32;
  std::shared_ptr<autograd::AutogradMeta> autograd_;
};

ICCRT_API std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Contiguous (row-major) strides for a shape.
ICCRT_API Shape contiguous_strides(const Shape& shape);
// Product of sizes; raises ValueError on negative sizes or overflow.
ICCRT_API int64_t shape_numel(const Shape& shape);
// Normalises a possibly negative dimension index against `ndim` (IndexError when out of range).
ICCRT_API int64_t wrap_dim(int64_t dim, int64_t ndim);
// The broadcast shape of two shapes (ShapeError when they do not broadcast).
ICCRT_API Shape broadcast_shapes(const Shape& a, const Shape& b);

// ---- factories ----
ICCRT_API Tensor empty(const Shape& shape, TensorOptions opts = {});
ICCRT_API Tensor zeros(const Shape& shape, TensorOptions opts = {});
ICCRT_API Tensor ones(const Shape& shape, TensorOptions opts = {});
ICCRT_API Tensor full(const Shape& shape, Scalar value, TensorOptions opts = {});
ICCRT_API Tensor empty_like(const Tensor& t);
ICCRT_API Tensor zeros_like(const Tensor& t);
// [start, end) by step, like Python's range but for any number type; ValueError when step is 0.
ICCRT_API Tensor arange(Scalar start, Scalar end, Scalar step = 1, TensorOptions opts = {DType::Int64});
// From host values (converted to opts.dtype).
ICCRT_API Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions opts = {});

}  // namespace iccrt
