#pragma once
// CPU kernels. Each takes raw pointers/strides (kernel_args.hpp) and runs on the calling thread plus OpenMP
// workers when the problem is large enough to pay for them.
#include "kernels/common/kernel_args.hpp"

namespace iccrt::kernels::cpu {

void unary(UnaryOp op, const ElementwiseArgs& a);    // operands: out, x (same dtype)
void binary(BinaryOp op, const ElementwiseArgs& a);  // out, x, y (x, y same dtype; out bool for comparisons)
// out, x; computes x op s, or s op x when `reversed`. s is already valid for x's dtype.
void binary_scalar(BinaryOp op, const ElementwiseArgs& a, Scalar s, bool reversed);
void where(const ElementwiseArgs& a);  // out, cond (bool), x, y
void copy(const ElementwiseArgs& a);   // out, x: any dtype to any dtype (float->int truncates; ->bool is != 0)
void fill(const ElementwiseArgs& a, Scalar v);  // out
void arange(void* out, DType dtype, int64_t n, Scalar start, Scalar step);  // contiguous out
// Contiguous out of a floating dtype; `offset` is the generator's first counter word (see philox.hpp).
void random_uniform(void* out, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double low, double high);
void random_normal(void* out, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double mean, double std);
void reduce(const ReduceArgs& a);
void gemm(const GemmArgs& a);  // floating dtypes; float16/bfloat16 convert through float32

}  // namespace iccrt::kernels::cpu
