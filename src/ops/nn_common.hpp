#pragma once
// Argument checks shared by the model ops (src/ops/nn_*.cpp). Each raises the typed error naming `op` and the
// argument (`what`), saying what was expected and what was got.
#include "iccrt/core/tensor.hpp"
#include "kernels/common/nn_args.hpp"

namespace iccrt::detail {

// Error unless `t` is defined.
inline void check_defined(const char* op, const char* what, const Tensor& t) {
  ICCRT_CHECK(t.defined(), op, ": ", what, " is an undefined tensor");
}

// DTypeError unless `t` is float32, float64, float16 or bfloat16.
inline void check_floating(const char* op, const char* what, const Tensor& t) {
  check_defined(op, what, t);
  ICCRT_CHECK_DTYPE(is_floating(t.dtype()), op, ": ", what,
                    " must be a floating tensor (float32, float64, float16, bfloat16) but got ", dtype_name(t.dtype()));
}

// DTypeError unless `t` has dtype `expected`.
inline void check_dtype(const char* op, const char* what, const Tensor& t, DType expected) {
  check_defined(op, what, t);
  ICCRT_CHECK_DTYPE(t.dtype() == expected, op, ": expected ", what, " of dtype ", dtype_name(expected), " but got ",
                    dtype_name(t.dtype()));
}

// ShapeError unless `t` has shape `expected`.
inline void check_shape(const char* op, const char* what, const Tensor& t, const Shape& expected) {
  check_defined(op, what, t);
  ICCRT_CHECK_SHAPE(t.shape() == expected, op, ": expected ", what, " of shape ", expected, " but got ", t.shape());
}

// The dtype of saved statistics and gradient accumulators for data of dtype `t` (see nn_args.hpp).
inline DType stat_dtype(DType t) { return kernels::stat_dtype(t); }

}  // namespace iccrt::detail
