#pragma once
// iccrt's own GEMM, for builds without OpenBLAS (see gemm.cpp). Cache-blocked and OpenMP-parallel; correct
// for any sizes and leading dimensions, a few times slower than a tuned BLAS.
#include <cstdint>

namespace iccrt::kernels::cpu::detail {

// One matrix: C = alpha * op(A) @ op(B) + beta * C, row-major; lda/ldb/ldc are row strides as stored (any
// value, 0 included, since operands are read through packing). beta == 0 leaves C's old contents unread.
// `parallel` lets it use OpenMP threads.
template <class T>
void blocked_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                  const T* b, int64_t ldb, T beta, T* c, int64_t ldc, bool parallel);

extern template void blocked_gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                         const float*, int64_t, float, float*, int64_t, bool);
extern template void blocked_gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                          const double*, int64_t, double, double*, int64_t, bool);

}  // namespace iccrt::kernels::cpu::detail
