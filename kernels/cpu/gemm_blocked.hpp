#pragma once
// iccrt's own GEMM: the whole of it in builds without OpenBLAS (see gemm.cpp), and tiny products in any build.
// Cache-blocked and OpenMP-parallel; correct for any sizes and leading dimensions, a few times slower than a
// tuned BLAS on large ones.
#include <cstdint>

namespace iccrt::kernels::cpu::detail {

// One matrix: C = alpha * op(A) @ op(B) + beta * C, row-major; lda/ldb/ldc are row strides as stored (any
// value, 0 included, since operands are read through packing). beta == 0 leaves C's old contents unread.
// `parallel` lets it use OpenMP threads.
template <class T>
void blocked_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                  const T* b, int64_t ldb, T beta, T* c, int64_t ldc, bool parallel);

// The same for products small enough (a few thousand multiply-adds) that packing panels and splitting work
// would cost more than the arithmetic: B is copied once into a padded row-major buffer and C computed in
// register tiles, on the calling thread.
template <class T>
void small_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

extern template void small_gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                       const float*, int64_t, float, float*, int64_t);
extern template void small_gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                        const double*, int64_t, double, double*, int64_t);
extern template void blocked_gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                         const float*, int64_t, float, float*, int64_t, bool);
extern template void blocked_gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                          const double*, int64_t, double, double*, int64_t, bool);

}  // namespace iccrt::kernels::cpu::detail
