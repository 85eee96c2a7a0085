#pragma once
// CUDA kernels: the same entry points as kernels/cpu/cpu_kernels.hpp, queued on `stream` (a cudaStream_t;
// nullptr is the legacy default stream). All pointers in the args are device pointers of one device, which is
// current when these are called. Every launch is checked; errors raise iccrt::Error naming the kernel.
#include "kernels/common/kernel_args.hpp"

namespace iccrt::kernels::cuda {

using Stream = void*;

void unary(UnaryOp op, const ElementwiseArgs& a, Stream stream);
void binary(BinaryOp op, const ElementwiseArgs& a, Stream stream);
void binary_scalar(BinaryOp op, const ElementwiseArgs& a, Scalar s, bool reversed, Stream stream);
void where(const ElementwiseArgs& a, Stream stream);
void copy(const ElementwiseArgs& a, Stream stream);
void fill(const ElementwiseArgs& a, Scalar v, Stream stream);
void arange(void* out, DType dtype, int64_t n, Scalar start, Scalar step, Stream stream);
void random_uniform(void* out, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double low, double high,
                    Stream stream);
void random_normal(void* out, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double mean, double std,
                   Stream stream);
void reduce(const ReduceArgs& a, Stream stream);
// cuBLASLt: float32 (TF32 when allow_tf32), float64, float16, bfloat16 (fp32 accumulate).
void gemm(const GemmArgs& a, bool allow_tf32, Stream stream);

}  // namespace iccrt::kernels::cuda
