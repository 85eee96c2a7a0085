#pragma once
// The differentiable ops: the same names and rules as the raw ops in include/iccrt/ops/ (elementwise.hpp,
// reduce.hpp, matmul.hpp), which they call, plus recording on the autograd tape when grad mode is on and an
// input requires grad. Non-differentiable ones (comparisons, argmax) just forward. In-place ops on a tensor
// that requires grad (or from one) while recording raise ValueError: use the out-of-place form, or no_grad.
#include <string>
#include <utility>
#include <vector>

#include "iccrt/core/tensor.hpp"

namespace iccrt {

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
ICCRT_API Tensor gelu(const Tensor& x, const std::string& approximate = "none");
ICCRT_API Tensor silu(const Tensor& x);

// ---- binary with broadcasting ----
ICCRT_API Tensor add(const Tensor& a, const Tensor& b);
ICCRT_API Tensor sub(const Tensor& a, const Tensor& b);
ICCRT_API Tensor mul(const Tensor& a, const Tensor& b);
ICCRT_API Tensor div(const Tensor& a, const Tensor& b);
ICCRT_API Tensor pow(const Tensor& a, const Tensor& b);
ICCRT_API Tensor maximum(const Tensor& a, const Tensor& b);
ICCRT_API Tensor minimum(const Tensor& a, const Tensor& b);
ICCRT_API Tensor eq(const Tensor& a, const Tensor& b);
ICCRT_API Tensor ne(const Tensor& a, const Tensor& b);
ICCRT_API Tensor lt(const Tensor& a, const Tensor& b);
ICCRT_API Tensor le(const Tensor& a, const Tensor& b);
ICCRT_API Tensor gt(const Tensor& a, const Tensor& b);
ICCRT_API Tensor ge(const Tensor& a, const Tensor& b);

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

ICCRT_API Tensor& add_(Tensor& a, const Tensor& b);
ICCRT_API Tensor& sub_(Tensor& a, const Tensor& b);
ICCRT_API Tensor& mul_(Tensor& a, const Tensor& b);
ICCRT_API Tensor& div_(Tensor& a, const Tensor& b);
ICCRT_API Tensor& add_(Tensor& a, Scalar b);
ICCRT_API Tensor& mul_(Tensor& a, Scalar b);

ICCRT_API Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// ---- reductions ----
ICCRT_API Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
ICCRT_API Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
ICCRT_API Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1,
                     bool keepdim = false);
ICCRT_API Tensor max(const Tensor& x);
ICCRT_API Tensor min(const Tensor& x);
ICCRT_API std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
ICCRT_API std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
ICCRT_API Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
ICCRT_API Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
ICCRT_API Tensor argmax(const Tensor& x);
ICCRT_API Tensor argmin(const Tensor& x);

// ---- matrix products ----
ICCRT_API Tensor matmul(const Tensor& a, const Tensor& b);
ICCRT_API Tensor mm(const Tensor& a, const Tensor& b);
ICCRT_API Tensor bmm(const Tensor& a, const Tensor& b);

// ---- joining ----
// Concatenation along an existing dim / stacking along a new one; same dtype and device, other dims equal.
ICCRT_API Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
ICCRT_API Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);

// Sums `grad` over the dims that broadcasting added or expanded, so it has `shape` (the backward of a broadcast).
ICCRT_API Tensor sum_to(const Tensor& grad, const Shape& shape);

ICCRT_API Tensor operator-(const Tensor& a);
ICCRT_API Tensor operator+(const Tensor& a, const Tensor& b);
ICCRT_API Tensor operator-(const Tensor& a, const Tensor& b);
ICCRT_API Tensor operator*(const Tensor& a, const Tensor& b);
ICCRT_API Tensor operator/(const Tensor& a, const Tensor& b);
ICCRT_API Tensor operator+(const Tensor& a, Scalar b);
ICCRT_API Tensor operator-(const Tensor& a, Scalar b);
ICCRT_API Tensor operator*(const Tensor& a, Scalar b);
ICCRT_API Tensor operator/(const Tensor& a, Scalar b);

}  // namespace iccrt
