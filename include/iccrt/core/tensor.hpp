#pragma once
// Tensor: a typed, strided view into a Storage. Copying a Tensor copies the view, not the data.
// Views (view, reshape when possible, permute, transpose, narrow, slice, select, expand, squeeze, unsqueeze)
// share storage; contiguous(), clone() and to() copy when they must.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "iccrt/core/device.hpp"
#include "iccrt/core/dtype.hpp"
#include "iccrt/core/export.hpp"
#include "iccrt/core/scalar.hpp"
#include "iccrt/core/storage.hpp"

namespace iccrt {

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
