#pragma once
// Reductions for collectives: contiguous buffers, vectorised, float16 / bfloat16 computed in float32.
// ReduceOp::Avg folds as Sum here; the caller divides once at the end (scale_by_inverse).
// Supported dtypes: float32, float64, float16, bfloat16, int32, int64 (DTypeError otherwise; Prod/Min/Max/Sum
// on ints are exact, wrapping like two's complement on overflow).
#include <cstddef>

#include "iccrt/comm/types.hpp"

namespace iccrt::kernels::cpu {

// dst[i] = op(dst[i], src[i])
void comm_reduce_into(void* dst, const void* src, size_t n, DType dtype, comm::ReduceOp op);
// dst[i] = op(a[i], b[i]); dst may alias a or b.
void comm_reduce2(void* dst, const void* a, const void* b, size_t n, DType dtype, comm::ReduceOp op);
// dst[i] = op(srcs[0][i], ..., srcs[nsrc-1][i]); half types accumulate in float32 and round once.
// dst may alias one of srcs. nsrc >= 1.
void comm_reduce_n(void* dst, const void* const* srcs, int nsrc, size_t n, DType dtype, comm::ReduceOp op);
// buf[i] /= divisor (floating dtypes; Avg's final step).
void comm_scale_avg(void* buf, size_t n, DType dtype, int divisor);
// Throws DTypeError when `dtype` cannot be reduced with `op` (e.g. Avg on ints, anything on bool/uint8).
void comm_check_reducible(DType dtype, comm::ReduceOp op);

}  // namespace iccrt::kernels::cpu
