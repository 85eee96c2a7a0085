// Tensor metadata and views. Nothing here touches element data; copies live in src/ops/copy.cpp.
#include "iccrt/core/tensor.hpp"

#include "src/core/autograd_hook.hpp"

#include <algorithm>
#include <optional>
#include <ostream>

namespace iccrt {

// ---- shape helpers ----

Shape contiguous_strides(const Shape& shape) {
  Shape s(shape.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= std::max<int64_t>(shape[i], 1);
  }
  return s;
}

int64_t shape_numel(const Shape& shape) {
  ICCRT_CHECK_VALUE(static_cast<int64_t>(shape.size()) <= kMaxDims, "tensors have at most ", kMaxDims,
                    " dimensions, got shape ", shape);
  int64_t n = 1;
  for (int64_t d : shape) {
    ICCRT_CHECK_VALUE(d >= 0, "negative dimension in shape ", shape);
    ICCRT_CHECK_VALUE(!__builtin_mul_overflow(n, d, &n), "shape ", shape, " has too many elements");
  }
  return n;
}

int64_t wrap_dim(int64_t dim, int64_t ndim) {
  const int64_t lo = ndim > 0 ? -ndim : -1, hi = ndim > 0 ? ndim - 1 : 0;
  ICCRT_CHECK_INDEX(dim >= lo && dim <= hi, "dimension ", dim, " out of range for a tensor with ", ndim,
                    " dimensions (expected [", lo, ", ", hi, "])");
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    ICCRT_CHECK_SHAPE(da == db || da == 1 || db == 1, "shapes ", a, " and ", b,
                      " cannot be broadcast together (dimension ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// ---- Tensor ----

Tensor::Tensor(Storage storage, Shape shape, Shape strides, int64_t offset, DType dtype)
    : storage_(std::move(storage)), shape_(std::move(shape)), strides_(std::move(strides)), offset_(offset),
      dtype_(dtype) {
  ICCRT_CHECK_VALUE(static_cast<int64_t>(shape_.size()) <= kMaxDims, "tensors have at most ", kMaxDims,
                    " dimensions, got ", shape_.size());
  ICCRT_ASSERT(shape_.size() == strides_.size(), "shape ", shape_, " and strides ", strides_, " differ in rank");
  ICCRT_ASSERT(storage_ != nullptr, "tensor without storage");
}

namespace {
void check_defined(const Tensor& t, const char* what) {
  ICCRT_CHECK(t.defined(), what, " on an undefined tensor");
}
}  // namespace

int64_t Tensor::size(int64_t d) const { return shape_[wrap_dim(d, dim())]; }
int64_t Tensor::stride(int64_t d) const { return strides_[wrap_dim(d, dim())]; }

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

Device Tensor::device() const {
  check_defined(*this, "device()");
  return storage_->device();
}

void* Tensor::data_ptr() const {
  check_defined(*this, "data_ptr()");
  return static_cast<char*>(storage_->data()) + offset_ * itemsize();
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape_[i] == 0) return true;
    if (shape_[i] != 1 && strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  return detail::str("Tensor(shape=", shape_, ", dtype=", dtype_name(dtype_), ", device=", device().str(), ")");
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---- views ----

namespace {

Shape infer_shape(Shape shape, int64_t numel) {
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      ICCRT_CHECK_SHAPE(infer < 0, "only one dimension can be -1, got shape ", shape);
      infer = static_cast<int64_t>(i);
    } else {
      ICCRT_CHECK_VALUE(shape[i] >= 0, "invalid dimension ", shape[i], " in shape ", shape);
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    ICCRT_CHECK_SHAPE(known != 0 && numel % known == 0, "shape ", shape, " is invalid for ", numel, " elements");
    shape[infer] = numel / known;
  }
  ICCRT_CHECK_SHAPE(shape_numel(shape) == numel, "shape ", shape, " is invalid for ", numel, " elements");
  return shape;
}

// Strides that let `newshape` view memory laid out as (oldshape, oldstride), or nothing when it needs a copy.
// Walks both shapes from the innermost dim; old dims that are contiguous with each other form a chunk, and the
// new dims must split every chunk exactly.
std::optional<Shape> view_strides(Shape oldshape, Shape oldstride, const Shape& newshape) {
  Shape newstride(newshape.size());
  if (shape_numel(oldshape) == 0) return contiguous_strides(newshape);
  if (oldshape.empty()) {
    oldshape = {1};
    oldstride = {1};
  }
  int64_t view_d = static_cast<int64_t>(newshape.size()) - 1;
  int64_t chunk_stride = oldstride.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(oldshape.size()) - 1; d >= 0; --d) {
    tensor_numel *= oldshape[d];
    const bool chunk_ends = d == 0 || (oldshape[d - 1] != 1 && oldstride[d - 1] != tensor_numel * chunk_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || newshape[view_d] == 1)) {
      newstride[view_d] = view_numel * chunk_stride;
      view_numel *= newshape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (d > 0) {
      chunk_stride = oldstride[d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return newstride;
}

}  // namespace

Tensor Tensor::view(Shape shape) const {
  check_defined(*this, "view()");
  shape = infer_shape(std::move(shape), numel());
  auto st = view_strides(shape_, strides_, shape);
  ICCRT_CHECK_SHAPE(st.has_value(), "view(", shape, ") is not compatible with the memory layout of a tensor of shape ",
                    shape_, " and strides ", strides_, "; use reshape() to copy");
  return detail::record_view(*this, Tensor(storage_, std::move(shape), std::move(*st), offset_, dtype_), {});
}

Tensor Tensor::reshape(Shape shape) const {
  check_defined(*this, "reshape()");
  shape = infer_shape(std::move(shape), numel());
  if (auto st = view_strides(shape_, strides_, shape)) return detail::record_view(*this, Tensor(storage_, shape, std::move(*st), offset_, dtype_), {});
  return contiguous().view(std::move(shape));
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  check_defined(*this, "permute()");
  ICCRT_CHECK_VALUE(static_cast<int64_t>(dims.size()) == dim(), "permute needs ", dim(), " dims for shape ", shape_,
                    ", got ", dims);
  Shape ns(dims.size()), nst(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], dim());
    ICCRT_CHECK_VALUE(!seen[d], "permute: dimension ", d, " repeated in ", dims);
    seen[d] = true;
    ns[i] = shape_[d];
    nst[i] = strides_[d];
  }
  detail::ViewRecord r{detail::ViewKind::Permute};
  for (int64_t d : dims) r.perm.push_back(wrap_dim(d, dim()));
  return detail::record_view(*this, Tensor(storage_, std::move(ns), std::move(nst), offset_, dtype_), r);
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  check_defined(*this, "transpose()");
  if (dim() == 0) {
    wrap_dim(a, 0);
    wrap_dim(b, 0);
    return *this;
  }
  a = wrap_dim(a, dim());
  b = wrap_dim(b, dim());
  Shape ns = shape_, nst = strides_;
  std::swap(ns[a], ns[b]);
  std::swap(nst[a], nst[b]);
  detail::ViewRecord r{detail::ViewKind::Permute};
  for (int64_t d = 0; d < dim(); ++d) r.perm.push_back(d);
  std::swap(r.perm[a], r.perm[b]);
  return detail::record_view(*this, Tensor(storage_, std::move(ns), std::move(nst), offset_, dtype_), r);
}

Tensor Tensor::t() const {
  ICCRT_CHECK_VALUE(dim() <= 2, "t() expects a tensor with at most 2 dimensions, got shape ", shape_);
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  check_defined(*this, "narrow()");
  ICCRT_CHECK_INDEX(dim() > 0, "narrow() cannot be applied to a 0-d tensor");
  d = wrap_dim(d, dim());
  const int64_t n = shape_[d];
  if (start < 0) start += n;
  ICCRT_CHECK_INDEX(start >= 0 && start <= n && length >= 0 && start + length <= n, "narrow: range [", start, ", ",
                    start, " + ", length, ") is out of bounds for dimension ", d, " of size ", n);
  Shape ns = shape_;
  ns[d] = length;
  return detail::record_view(*this, Tensor(storage_, std::move(ns), strides_, offset_ + start * strides_[d], dtype_),
                             {detail::ViewKind::Slice, d, start, start + length, 1, {}});
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  check_defined(*this, "slice()");
  ICCRT_CHECK_INDEX(dim() > 0, "slice() cannot be applied to a 0-d tensor");
  ICCRT_CHECK_VALUE(step > 0, "slice step must be positive, got ", step);
  d = wrap_dim(d, dim());
  const int64_t n = shape_[d];
  // Python semantics: negative bounds count from the end, then clamp to [0, n].
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape ns = shape_, nst = strides_;
  ns[d] = (end - start + step - 1) / step;
  nst[d] = strides_[d] * step;
  return detail::record_view(*this,
                             Tensor(storage_, std::move(ns), std::move(nst), offset_ + start * strides_[d], dtype_),
                             {detail::ViewKind::Slice, d, start, end, step, {}});
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  check_defined(*this, "select()");
  ICCRT_CHECK_INDEX(dim() > 0, "cannot index into a 0-d tensor");
  d = wrap_dim(d, dim());
  const int64_t n = shape_[d];
  ICCRT_CHECK_INDEX(index >= -n && index < n, "index ", index, " is out of bounds for dimension ", d, " with size ",
                    n);
  if (index < 0) index += n;
  Shape ns = shape_, nst = strides_;
  ns.erase(ns.begin() + d);
  nst.erase(nst.begin() + d);
  return detail::record_view(*this,
                             Tensor(storage_, std::move(ns), std::move(nst), offset_ + index * strides_[d], dtype_),
                             {detail::ViewKind::Select, d, index, 0, 1, {}});
}

Tensor Tensor::expand(Shape shape) const {
  check_defined(*this, "expand()");
  ICCRT_CHECK_SHAPE(static_cast<int64_t>(shape.size()) >= dim(), "expand: target shape ", shape,
                    " has fewer dimensions than the tensor's shape ", shape_);
  const size_t lead = shape.size() - shape_.size();
  Shape nst(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      ICCRT_CHECK_SHAPE(shape[i] >= 0, "expand: new leading dimension ", i, " must be given explicitly, got ",
                        shape[i], " in ", shape);
      nst[i] = 0;
      continue;
    }
    const int64_t old = shape_[i - lead];
    if (shape[i] == -1) shape[i] = old;
    ICCRT_CHECK_SHAPE(shape[i] == old || old == 1, "expand: cannot expand shape ", shape_, " to ", shape,
                      " (dimension ", i, " has size ", old, ", which is not 1)");
    ICCRT_CHECK_VALUE(shape[i] >= 0, "expand: negative size in ", shape);
    nst[i] = (shape[i] == old) ? strides_[i - lead] : 0;
  }
  shape_numel(shape);
  return detail::record_view(*this, Tensor(storage_, std::move(shape), std::move(nst), offset_, dtype_),
                             {detail::ViewKind::Expand});
}

Tensor Tensor::squeeze() const {
  check_defined(*this, "squeeze()");
  Shape ns, nst;
  for (int64_t i = 0; i < dim(); ++i)
    if (shape_[i] != 1) {
      ns.push_back(shape_[i]);
      nst.push_back(strides_[i]);
    }
  return detail::record_view(*this, Tensor(storage_, std::move(ns), std::move(nst), offset_, dtype_), {});
}

Tensor Tensor::squeeze(int64_t d) const {
  check_defined(*this, "squeeze()");
  if (dim() == 0) {
    wrap_dim(d, 0);
    return *this;
  }
  d = wrap_dim(d, dim());
  if (shape_[d] != 1) return *this;
  Shape ns = shape_, nst = strides_;
  ns.erase(ns.begin() + d);
  nst.erase(nst.begin() + d);
  return detail::record_view(*this, Tensor(storage_, std::move(ns), std::move(nst), offset_, dtype_), {});
}

Tensor Tensor::unsqueeze(int64_t d) const {
  check_defined(*this, "unsqueeze()");
  d = wrap_dim(d, dim() + 1);
  ICCRT_CHECK_VALUE(dim() < kMaxDims, "unsqueeze: tensors have at most ", kMaxDims, " dimensions");
  Shape ns = shape_, nst = strides_;
  const int64_t st = d < dim() ? shape_[d] * strides_[d] : 1;
  ns.insert(ns.begin() + d, 1);
  nst.insert(nst.begin() + d, st);
  return detail::record_view(*this, Tensor(storage_, std::move(ns), std::move(nst), offset_, dtype_), {});
}

Tensor Tensor::as_strided(Shape shape, Shape strides, int64_t offset) const {
  check_defined(*this, "as_strided()");
  ICCRT_CHECK_VALUE(!detail::records(*this), "as_strided is not differentiable; call it on a detach()ed tensor or "
                                             "under no_grad");
  ICCRT_CHECK_VALUE(shape.size() == strides.size(), "as_strided: shape ", shape, " and strides ", strides,
                    " differ in length");
  ICCRT_CHECK_VALUE(offset >= 0, "as_strided: negative offset ", offset);
  const int64_t n = shape_numel(shape);
  int64_t extent = offset + 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    ICCRT_CHECK_VALUE(strides[i] >= 0, "as_strided: negative stride in ", strides);
    if (shape[i] > 0) extent += (shape[i] - 1) * strides[i];
  }
  const int64_t capacity = static_cast<int64_t>(storage_->nbytes()) / itemsize();
  ICCRT_CHECK_VALUE(n == 0 || extent <= capacity, "as_strided: shape ", shape, ", strides ", strides, " and offset ",
                    offset, " reach element ", extent - 1, " but the storage holds ", capacity);
  return Tensor(storage_, std::move(shape), std::move(strides), offset, dtype_);
}

}  // namespace iccrt
