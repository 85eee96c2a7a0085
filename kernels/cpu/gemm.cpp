// Batched GEMM. float32/float64 go to OpenBLAS (cblas_?gemm per batch) when the build has it and to iccrt's
// blocked GEMM (gemm_blocked.cpp) otherwise; float16/bfloat16 convert through float32 scratch.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/gemm_blocked.hpp"
#include "kernels/cpu/half_block.hpp"
#include "kernels/cpu/parallel.hpp"

#ifdef ICCRT_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace iccrt::kernels::cpu {
namespace {

// Below this many multiply-adds per matrix, OpenBLAS runs single-threaded (its own threshold is 4 * 65536),
// so a batch of such matrices is better spread over threads one matrix each.
constexpr int64_t kSmallGemm = int64_t{1} << 17;
// At most this many multiply-adds (32^3), small_gemm beats a BLAS call.
constexpr int64_t kTinyGemm = int64_t{1} << 15;

// A matrix stored rows × cols with row stride ld, as BLAS may read it. A single row may carry any ld (the ops
// layer passes whatever its stride was, 0 included), so it is raised to the minimum BLAS accepts. Several
// rows with ld < cols overlap (a broadcast view): BLAS rejects that, so those are copied out.
template <class T>
const T* blas_operand(const T* x, int64_t rows, int64_t cols, int64_t& ld, std::vector<T>& scratch) {
  if (rows <= 1) {
    ld = std::max<int64_t>({ld, cols, 1});
    return x;
  }
  if (ld >= cols) return x;
  scratch.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) std::copy(x + r * ld, x + r * ld + cols, scratch.data() + r * cols);
  ld = cols;
  return scratch.data();
}

// One matrix in float or double.
template <class T>
void gemm_one(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
              int64_t ldb, T beta, T* c, int64_t ldc, bool parallel) {
  // Tiny products (attention heads, per-sample bmm): a BLAS call costs more than the arithmetic.
  if (m * n * k <= kTinyGemm && k > 0) {
    detail::small_gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  std::vector<T> a_scratch, b_scratch;
  a = blas_operand(a, ta ? k : m, ta ? m : k, lda, a_scratch);
  b = blas_operand(b, tb ? n : k, tb ? k : n, ldb, b_scratch);
  if (m <= 1) ldc = std::max<int64_t>({ldc, n, 1});
  ICCRT_ASSERT(ldc >= n, "gemm: output rows overlap (ldc ", ldc, " < n ", n, ")");
#ifdef ICCRT_HAVE_OPENBLAS
  const bool fits_int = std::max({m, n, k, lda, ldb, ldc}) <= INT_MAX;
  if (fits_int && k > 0) {
    const auto op_a = ta ? CblasTrans : CblasNoTrans, op_b = tb ? CblasTrans : CblasNoTrans;
    const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
    if constexpr (std::is_same_v<T, float>) {
      cblas_sgemm(CblasRowMajor, op_a, op_b, im, in, ik, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                  beta, c, static_cast<int>(ldc));
    } else {
      cblas_dgemm(CblasRowMajor, op_a, op_b, im, in, ik, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                  beta, c, static_cast<int>(ldc));
    }
    return;
  }
#endif
  // Also the BLAS-less build, sizes beyond BLAS's int, and k == 0 (where the reference BLAS argument checks
  // reject lda = 0 on some builds, and all that is left is C = beta * C).
  detail::blocked_gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, parallel);
}

// Calls f(b, parallel_inside) for each batch: many small matrices go one per thread, large ones one at a time
// with threads inside.
template <class F>
void for_each_batch(const GemmArgs& g, const F& f) {
  const bool small = g.m * g.n * g.k < kSmallGemm;
  if (small && g.batch > 1 && detail::max_threads() > 1) {
    const int chunks = detail::num_chunks(g.batch, 1);
    detail::parallel_chunks(g.batch, chunks, [&](int, int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) f(b, false);
    });
    return;
  }
  for (int64_t b = 0; b < g.batch; ++b) f(b, true);
}

template <class T>
void gemm_native(const GemmArgs& g) {
  const T* a = static_cast<const T*>(g.a);
  const T* b = static_cast<const T*>(g.b);
  T* c = static_cast<T*>(g.c);
  for_each_batch(g, [&](int64_t i, bool parallel) {
    gemm_one<T>(g.trans_a, g.trans_b, g.m, g.n, g.k, static_cast<T>(g.alpha), a + i * g.stride_a, g.lda,
                b + i * g.stride_b, g.ldb, static_cast<T>(g.beta), c + i * g.stride_c, g.ldc, parallel);
  });
}

// rows × cols of a 16-bit matrix with row stride ld into a dense float matrix, and back.
template <class T>
void rows_to_float(const T* x, int64_t rows, int64_t cols, int64_t ld, float* out) {
  for (int64_t r = 0; r < rows; ++r) detail::to_float(x + r * ld, out + r * cols, cols);
}
template <class T>
void rows_from_float(const float* x, int64_t rows, int64_t cols, T* out, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) detail::from_float(x + r * cols, out + r * ld, cols);
}

// float16/bfloat16: each operand converted once to dense float32 (a broadcast operand once for all batches),
// multiplied in float32 and rounded once on the way back, as cuBLAS does with fp32 accumulation.
template <class T>
void gemm_16bit(const GemmArgs& g) {
  const T* a = static_cast<const T*>(g.a);
  const T* b = static_cast<const T*>(g.b);
  T* c = static_cast<T*>(g.c);
  const int64_t a_rows = g.trans_a ? g.k : g.m, a_cols = g.trans_a ? g.m : g.k;
  const int64_t b_rows = g.trans_b ? g.n : g.k, b_cols = g.trans_b ? g.k : g.n;
  std::vector<float> af(static_cast<size_t>(a_rows * a_cols)), bf(static_cast<size_t>(b_rows * b_cols));
  std::vector<float> cf(static_cast<size_t>(g.m * g.n));
  for (int64_t i = 0; i < g.batch; ++i) {
    if (i == 0 || g.stride_a != 0) rows_to_float(a + i * g.stride_a, a_rows, a_cols, g.lda, af.data());
    if (i == 0 || g.stride_b != 0) rows_to_float(b + i * g.stride_b, b_rows, b_cols, g.ldb, bf.data());
    T* ci = c + i * g.stride_c;
    if (g.beta != 0.0) rows_to_float(ci, g.m, g.n, g.ldc, cf.data());
    gemm_one<float>(g.trans_a, g.trans_b, g.m, g.n, g.k, static_cast<float>(g.alpha), af.data(), a_cols, bf.data(),
                    b_cols, static_cast<float>(g.beta), cf.data(), g.n, true);
    rows_from_float(cf.data(), g.m, g.n, ci, g.ldc);
  }
}

}  // namespace

void gemm(const GemmArgs& g) {
  if (g.m <= 0 || g.n <= 0 || g.batch <= 0) return;
  dispatch_floating(g.dtype, "gemm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (detail::is_half_like<T>) {
      gemm_16bit<T>(g);
    } else {
      gemm_native<T>(g);
    }
  });
}

}  // namespace iccrt::kernels::cpu
