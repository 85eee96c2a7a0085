#include "src/ops/op_common.hpp"

#include <algorithm>
#include <cmath>

namespace iccrt::detail {

Device common_device(const char* op, std::initializer_list<const Tensor*> ts) {
  Device d;
  bool first = true;
  for (const Tensor* t : ts) {
    ICCRT_CHECK(t->defined(), op, ": undefined tensor argument");
    if (first) {
      d = t->device();
      first = false;
    } else {
      ICCRT_CHECK_DEVICE(t->device() == d, op, ": expected all tensors on one device, but got ", d.str(), " and ",
                         t->device().str());
    }
  }
  return d;
}

bool integer_range(DType t, double& lo, double& hi) {
  switch (t) {
    case DType::Bool: lo = 0.0, hi = 1.0; return true;
    case DType::UInt8: lo = 0.0, hi = 255.0; return true;
    case DType::Int32: lo = -2147483648.0, hi = 2147483647.0; return true;
    case DType::Int64: lo = -9223372036854775808.0, hi = 9223372036854775807.0; return true;
    default: return false;
  }
}

void check_scalar_fits(const char* op, DType t, const Scalar& s) {
  double lo, hi;
  if (t == DType::Bool || !integer_range(t, lo, hi)) return;
  if (s.kind == Scalar::Kind::Float) {
    ICCRT_CHECK_DTYPE(std::isfinite(s.d) && std::floor(s.d) == s.d, op, ": scalar ", s.d,
                      " is not an integer, but the tensor is ", dtype_name(t), "; convert the tensor with .to(float32)");
    ICCRT_CHECK_VALUE(s.d >= lo && s.d < hi + 1.0, op, ": scalar ", s.d, " is out of range for ", dtype_name(t));
  } else if (t != DType::Int64) {
    ICCRT_CHECK_VALUE(s.i >= static_cast<int64_t>(lo) && s.i <= static_cast<int64_t>(hi), op, ": scalar ", s.i,
                      " is out of range for ", dtype_name(t), " [", static_cast<int64_t>(lo), ", ",
                      static_cast<int64_t>(hi), "]");
  }
}

Tensor unalias(const Tensor& out, const Tensor& in) {
  if (out.storage() != in.storage()) return in;
  if (out.offset() == in.offset() && out.shape() == in.shape() && out.strides() == in.strides()) return in;
  return in.clone();
}

kernels::ElementwiseArgs elementwise_args(const Tensor& out, std::initializer_list<const Tensor*> inputs) {
  using kernels::kMaxOperands;
  const int nd = static_cast<int>(out.dim());
  const int nops = 1 + static_cast<int>(inputs.size());
  ICCRT_ASSERT(nops <= kMaxOperands, "too many operands: ", nops);

  // Full-rank strides per operand, broadcast dims (size 1 against a larger output) as stride 0.
  int64_t strides[kMaxOperands][kernels::kMaxDims] = {};
  for (int d = 0; d < nd; ++d) {
    ICCRT_CHECK_VALUE(out.shape()[d] <= 1 || out.strides()[d] != 0,
                      "the output of an in-place or out= operation has several elements in one memory location "
                      "(an expanded tensor, shape ", out.shape(), " strides ", out.strides(), "); clone() it first");
    strides[0][d] = out.strides()[d];
  }
  kernels::ElementwiseArgs a;
  a.nargs = nops;
  a.data[0] = static_cast<char*>(out.data_ptr());
  a.dtype[0] = out.dtype();
  int op = 1;
  for (const Tensor* t : inputs) {
    const int lead = nd - static_cast<int>(t->dim());
    ICCRT_CHECK_SHAPE(lead >= 0, "shape ", t->shape(), " cannot be broadcast to ", out.shape());
    for (int d = 0; d < nd; ++d) {
      if (d < lead) continue;
      const int64_t sz = t->shape()[d - lead];
      ICCRT_CHECK_SHAPE(sz == out.shape()[d] || sz == 1, "shape ", t->shape(), " cannot be broadcast to ",
                        out.shape());
      strides[op][d] = (sz == 1) ? 0 : t->strides()[d - lead];
    }
    a.data[op] = static_cast<char*>(t->data_ptr());
    a.dtype[op] = t->dtype();
    ++op;
  }
  a.numel = out.numel();

  // Coalesce: drop size-1 dims, merge a dim into the next inner one when every operand is contiguous across them.
  int m = 0;
  for (int d = 0; d < nd; ++d) {
    const int64_t sz = out.shape()[d];
    if (sz == 1) continue;
    if (m > 0) {
      bool mergeable = true;
      for (int o = 0; o < nops; ++o)
        if (a.strides[o][m - 1] != strides[o][d] * sz) mergeable = false;
      if (mergeable) {
        a.shape[m - 1] *= sz;
        for (int o = 0; o < nops; ++o) a.strides[o][m - 1] = strides[o][d];
        continue;
      }
    }
    a.shape[m] = sz;
    for (int o = 0; o < nops; ++o) a.strides[o][m] = strides[o][d];
    ++m;
  }
  if (m == 0) {  // a single element: kernels always see at least one dim
    a.shape[0] = 1;
    for (int o = 0; o < nops; ++o) a.strides[o][0] = 1;
    m = 1;
  }
  a.ndim = m;
  return a;
}

}  // namespace iccrt::detail
