#pragma once
// Matrix products, numpy.matmul semantics: 1-D operands are promoted and the added dim removed; batch dims
// broadcast. Transposed views are passed to BLAS as transposes, not copied. Floating dtypes only:
// CPU uses OpenBLAS (float16/bfloat16 through float32); CUDA uses cuBLASLt (float32 with TF32 when allowed).
#include "iccrt/core/tensor.hpp"

namespace iccrt::ops {

ICCRT_API Tensor matmul(const Tensor& a, const Tensor& b);
ICCRT_API Tensor mm(const Tensor& a, const Tensor& b);   // 2-D × 2-D only
ICCRT_API Tensor bmm(const Tensor& a, const Tensor& b);  // 3-D × 3-D, same batch

}  // namespace iccrt::ops

namespace iccrt {

// CUDA float32 matmuls may use TF32 tensor cores (default off, as in PyTorch).
ICCRT_API void set_allow_tf32(bool allow);
ICCRT_API bool allow_tf32();

}  // namespace iccrt
