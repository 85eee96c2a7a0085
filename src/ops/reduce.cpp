// Reductions: dim normalisation, output shapes and dtypes, then one kernel call.
#include "iccrt/ops/reduce.hpp"

#include <cmath>

#include "src/ops/op_common.hpp"

namespace iccrt::ops {
namespace {

using kernels::ReduceKind;

const char* kind_name(ReduceKind k) {
  static const char* names[] = {"sum", "mean", "var", "max", "min"};
  return names[static_cast<int>(k)];
}

// Sorted unique dims; empty input means every dim.
std::vector<bool> reduced_mask(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  std::vector<bool> mask(x.dim(), dims.empty());
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(d, x.dim());
    if (x.dim() == 0) continue;  // reducing a 0-d tensor over dim 0 / -1 is the identity
    ICCRT_CHECK_VALUE(!mask[w], op, ": dimension ", w, " appears more than once in ", dims);
    mask[w] = true;
  }
  return mask;
}

// Runs a reduction; `values` and (for max/min) `indices` are allocated here with the output shape.
void reduce_into(ReduceKind kind, const Tensor& x, const std::vector<bool>& mask, bool keepdim, DType out_dtype,
                 int64_t correction, Tensor& values, Tensor* indices) {
  Shape out_shape;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (!mask[d]) out_shape.push_back(x.shape()[d]);
    else if (keepdim) out_shape.push_back(1);
  }
  const TensorOptions opts(out_dtype, x.device());
  values = empty(out_shape, opts);
  if (indices) *indices = empty(out_shape, TensorOptions(DType::Int64, x.device()));

  kernels::ReduceArgs a;
  a.kind = kind;
  a.in = static_cast<const char*>(x.data_ptr());
  a.out = static_cast<char*>(values.data_ptr());
  a.index = indices ? static_cast<int64_t*>(indices->data_ptr()) : nullptr;
  a.in_dtype = x.dtype();
  a.out_dtype = out_dtype;
  a.correction = correction;
  a.out_numel = values.numel();
  a.red_numel = 1;
  // Output dims keep the input's order; size-1 dims are dropped and contiguous reduced dims merged (neither
  // changes the row-major flat index that max/min report).
  int64_t oi = 0;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const int64_t sz = x.shape()[d];
    if (mask[d]) {
      a.red_numel *= sz;
      if (keepdim) ++oi;
      if (sz == 1) continue;
      if (a.red_ndim > 0 && a.in_strides_red[a.red_ndim - 1] == x.strides()[d] * sz) {
        a.red_shape[a.red_ndim - 1] *= sz;
        a.in_strides_red[a.red_ndim - 1] = x.strides()[d];
        continue;
      }
      a.red_shape[a.red_ndim] = sz;
      a.in_strides_red[a.red_ndim++] = x.strides()[d];
    } else {
      if (sz != 1) {
        a.out_shape[a.out_ndim] = sz;
        a.out_strides[a.out_ndim] = values.strides()[oi];
        a.in_strides_out[a.out_ndim++] = x.strides()[d];
      }
      ++oi;
    }
  }
  // Kernels always see at least one dim on each side.
  if (a.out_ndim == 0) {
    a.out_shape[0] = 1;
    a.out_ndim = 1;
  }
  if (a.red_ndim == 0) {
    a.red_shape[0] = a.red_numel;  // 1, or 0 for an empty reduction over size-0 dims
    a.red_ndim = 1;
  }
  if (a.out_numel == 0) return;
  detail::run_on(
      x.device(), [&] { kernels::cpu::reduce(a); }, [&](void* s) { kernels::cuda::reduce(a, s); });
}

int64_t reduced_count(const Tensor& x, const std::vector<bool>& mask) {
  int64_t n = 1;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (mask[d]) n *= x.shape()[d];
  return n;
}

Tensor reduce_values(ReduceKind kind, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim,
                     int64_t correction = 1) {
  ICCRT_CHECK(x.defined(), kind_name(kind), ": undefined tensor");
  const auto mask = reduced_mask(x, dims, kind_name(kind));
  DType out_dtype = x.dtype();
  if (kind == ReduceKind::Sum && !is_floating(x.dtype())) out_dtype = DType::Int64;
  if (kind == ReduceKind::Mean || kind == ReduceKind::Var) dispatch_floating(x.dtype(), kind_name(kind), [](auto) {});
  if (kind == ReduceKind::Max || kind == ReduceKind::Min) {
    ICCRT_CHECK_VALUE(reduced_count(x, mask) > 0, kind_name(kind),
                      "(): cannot reduce over an empty dimension (shape ", x.shape(), ")");
  }
  Tensor out;
  reduce_into(kind, x, mask, keepdim, out_dtype, correction, out, nullptr);
  return out;
}

std::pair<Tensor, Tensor> reduce_with_index(ReduceKind kind, const Tensor& x, int64_t dim, bool keepdim) {
  ICCRT_CHECK(x.defined(), kind_name(kind), ": undefined tensor");
  const auto mask = reduced_mask(x, {dim}, kind_name(kind));
  ICCRT_CHECK_VALUE(reduced_count(x, mask) > 0, kind_name(kind), "(): cannot reduce over dimension ", dim,
                    " of size 0 (shape ", x.shape(), ")");
  Tensor values, indices;
  reduce_into(kind, x, mask, keepdim, x.dtype(), 0, values, &indices);
  return {values, indices};
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_values(ReduceKind::Sum, x, dims, keepdim);
}
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_values(ReduceKind::Mean, x, dims, keepdim);
}
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  ICCRT_CHECK_VALUE(correction >= 0, "var: correction must be non-negative, got ", correction);
  return reduce_values(ReduceKind::Var, x, dims, keepdim, correction);
}
Tensor max(const Tensor& x) { return reduce_values(ReduceKind::Max, x, {}, false); }
Tensor min(const Tensor& x) { return reduce_values(ReduceKind::Min, x, {}, false); }
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return reduce_with_index(ReduceKind::Max, x, dim, keepdim);
}
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return reduce_with_index(ReduceKind::Min, x, dim, keepdim);
}
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return max(x, dim, keepdim).second; }
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) { return min(x, dim, keepdim).second; }
Tensor argmax(const Tensor& x) { return max(x.reshape({-1}), 0, false).second; }
Tensor argmin(const Tensor& x) { return min(x.reshape({-1}), 0, false).second; }

}  // namespace iccrt::ops
