#pragma once
// Elementwise ops with NumPy/PyTorch broadcasting. Operands must share a device and (for binary ops) a dtype:
// iccrt does not promote types silently; cast with .to(dtype). Comparisons return bool tensors.
// Floating-only ops (exp, log, sqrt, tanh, ...) on integer tensors raise DTypeError.
#include "iccrt/core/tensor.hpp"

namespace iccrt::ops {

// ---- unary ----
ICCRT_API Tensor neg(const Tensor& x);
ICCRT_API Tensor abs(const Tensor& x);
ICCRT_API Tensor exp(const Tensor& x);
ICCRT_API Tensor log(const Tensor& x);
ICCRT_API Tensor sqrt(const Tensor& x);
ICCRT_API Tensor rsqrt(const Tensor& x);
ICCRT_API Tensor tanh(const Tensor& x);
ICCRT_API Tensor sigmoid(const Tensor& x);
ICCRT_API Tensor relu(const Tensor& x);
// approximate: "none" (exact, with erf) or "tanh"
ICCRT_API Tensor gelu(const Tensor& x, const std::string& approximate = "none");
ICCRT_API Tensor silu(const Tensor& x);

// ---- binary (tensor, tensor) with broadcasting ----
ICCRT_API Tensor add(const Tensor& a, const Tensor& b);
ICCRT_API Tensor sub(const Tensor& a, const Tensor& b);
ICCRT_API Tensor mul(const Tensor& a, const Tensor& b);
ICCRT_API Tensor div(const Tensor& a, const Tensor& b);  // true division: integer operands raise DTypeError
ICCRT_API Tensor pow(const Tensor& a, const Tensor& b);
ICCRT_API Tensor maximum(const Tensor& a, const Tensor& b);
ICCRT_API Tensor minimum(const Tensor& a, const Tensor& b);
ICCRT_API Tensor eq(const Tensor& a, const Tensor& b);
ICCRT_API Tensor ne(const Tensor& a, const Tensor& b);
ICCRT_API Tensor lt(const Tensor& a, const Tensor& b);
ICCRT_API Tensor le(const Tensor& a, const Tensor& b);
ICCRT_API Tensor gt(const Tensor& a, const Tensor& b);
ICCRT_API Tensor ge(const Tensor& a, const Tensor& b);

// ---- scalar variants: (tensor op scalar); the r* forms compute (scalar op tensor) ----
// The scalar is converted to the tensor's dtype; a non-integral scalar with an integer tensor raises DTypeError.
ICCRT_API Tensor add(const Tensor& a, Scalar b);
ICCRT_API Tensor sub(const Tensor& a, Scalar b);
ICCRT_API Tensor mul(const Tensor& a, Scalar b);
ICCRT_API Tensor div(const Tensor& a, Scalar b);
ICCRT_API Tensor pow(const Tensor& a, Scalar b);
ICCRT_API Tensor maximum(const Tensor& a, Scalar b);
ICCRT_API Tensor minimum(const Tensor& a, Scalar b);
ICCRT_API Tensor rsub(const Tensor& a, Scalar b);  // b - a
ICCRT_API Tensor rdiv(const Tensor& a, Scalar b);  // b / a
ICCRT_API Tensor rpow(const Tensor& a, Scalar b);  // b ** a
ICCRT_API Tensor eq(const Tensor& a, Scalar b);
ICCRT_API Tensor ne(const Tensor& a, Scalar b);
ICCRT_API Tensor lt(const Tensor& a, Scalar b);
ICCRT_API Tensor le(const Tensor& a, Scalar b);
ICCRT_API Tensor gt(const Tensor& a, Scalar b);
ICCRT_API Tensor ge(const Tensor& a, Scalar b);

// In place: `a` is the output; b must broadcast to a's shape.
ICCRT_API Tensor& add_(Tensor& a, const Tensor& b);
ICCRT_API Tensor& sub_(Tensor& a, const Tensor& b);
ICCRT_API Tensor& mul_(Tensor& a, const Tensor& b);
ICCRT_API Tensor& div_(Tensor& a, const Tensor& b);
ICCRT_API Tensor& add_(Tensor& a, Scalar b);
ICCRT_API Tensor& mul_(Tensor& a, Scalar b);

// cond ? a : b, all three broadcast together; cond must be bool, a and b share a dtype.
ICCRT_API Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

}  // namespace iccrt::ops
