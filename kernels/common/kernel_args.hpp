#pragma once
// What the ops layer hands to kernels: raw pointers, sizes and strides. kernels/ knows nothing of Tensor.
// Dimension order is row-major: dim ndim-1 is the innermost (fastest-varying). Strides are in elements.
// The ops layer has already broadcast shapes (stride 0) and merged dims that are contiguous across all operands.
#include <cstdint>

#include "iccrt/core/dtype.hpp"
#include "iccrt/core/scalar.hpp"

namespace iccrt::kernels {

constexpr int kMaxDims = 12;
constexpr int kMaxOperands = 4;

enum class UnaryOp : uint8_t { Neg, Abs, Exp, Log, Sqrt, Rsqrt, Tanh, Sigmoid, Relu, GeluTanh, GeluErf, Silu };
enum class BinaryOp : uint8_t { Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge };
inline constexpr bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }

// Operand 0 is the output. Every operand has the same shape (after broadcasting).
struct ElementwiseArgs {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t numel = 0;
  int nargs = 0;
  char* data[kMaxOperands] = {};
  DType dtype[kMaxOperands] = {};
  int64_t strides[kMaxOperands][kMaxDims] = {};
};

enum class ReduceKind : uint8_t { Sum, Mean, Var, Max, Min };

// out[o] = reduce over r of in[o, r]. The output index space has `out_ndim` dims, the reduced space `red_ndim`.
// in_strides_out / in_strides_red: input strides along output and reduced dims; out_strides: output strides.
// For Max/Min, `index` (if not null) receives the int64 flat index (row-major over the reduced dims) of the
// first extreme element, at the same strides as `out`. For Var, `correction` is subtracted from the count.
struct ReduceArgs {
  ReduceKind kind = ReduceKind::Sum;
  int out_ndim = 0;
  int64_t out_shape[kMaxDims] = {};
  int64_t out_strides[kMaxDims] = {};
  int64_t in_strides_out[kMaxDims] = {};
  int red_ndim = 0;
  int64_t red_shape[kMaxDims] = {};
  int64_t in_strides_red[kMaxDims] = {};
  int64_t out_numel = 0;
  int64_t red_numel = 0;
  const char* in = nullptr;
  char* out = nullptr;
  int64_t* index = nullptr;
  DType in_dtype = DType::Float32;
  DType out_dtype = DType::Float32;  // sums of integers are int64; everything else keeps in_dtype
  int64_t correction = 1;
};

// C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b], row-major, for b in [0, batch).
// op(X) is X or its transpose. A is m×k after op, B is k×n after op, C is m×n.
// lda/ldb/ldc are the row strides of the matrices as stored; stride_a/b/c the batch strides (0 broadcasts).
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t batch = 1;
  const void* a = nullptr;
  const void* b = nullptr;
  void* c = nullptr;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  DType dtype = DType::Float32;  // all three share it
  double alpha = 1.0, beta = 0.0;
};

}  // namespace iccrt::kernels
