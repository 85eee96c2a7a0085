// iccrt's own GEMM (used when OpenBLAS is absent), in the Goto/BLIS layout: B is packed in kc×nc blocks of
// kNR-wide column panels shared by all threads, each thread packs mc×kc blocks of A into kMR-high row panels,
// and a register-blocked kMR×kNR micro-kernel runs over the packed panels with unit-stride loads only.
// Packing also absorbs transposes and odd leading dimensions, so the kernel has one case.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm_blocked.hpp"
#include "kernels/cpu/parallel.hpp"

#if defined(__FMA__) || defined(__AVX__)
#include <immintrin.h>
#endif

namespace iccrt::kernels::cpu::detail {
namespace {

// GCC/Clang vector extensions: AVX registers where the target has them, pairs of SSE registers otherwise.
typedef float v8f __attribute__((vector_size(32)));
typedef double v4d __attribute__((vector_size(32)));

template <class T>
struct Vec;
template <>
struct Vec<float> {
  using type = v8f;
  static constexpr int kWidth = 8;
};
template <>
struct Vec<double> {
  using type = v4d;
  static constexpr int kWidth = 4;
};

// -std=c++17 (not gnu++17) turns off contraction of a*b+c into FMA, so ask for it explicitly.
inline v8f fmadd(v8f a, v8f b, v8f c) {
#ifdef __FMA__
  return _mm256_fmadd_ps(a, b, c);
#else
  return a * b + c;
#endif
}
inline v4d fmadd(v4d a, v4d b, v4d c) {
#ifdef __FMA__
  return _mm256_fmadd_pd(a, b, c);
#else
  return a * b + c;
#endif
}

// x in every lane, as one broadcast instruction.
inline v8f broadcast(float x) { return v8f{x, x, x, x, x, x, x, x}; }
inline v4d broadcast(double x) { return v4d{x, x, x, x}; }

// 6 rows × 2 vectors: 12 accumulators, 2 B vectors and an A broadcast fit AVX2's 16 registers.
constexpr int kMR = 6;
template <class T>
constexpr int kNR = 2 * Vec<T>::kWidth;
constexpr int64_t kMC = 96;   // a packed A block (96×256 floats, 96 KB) stays in L2
constexpr int64_t kKC = 256;  // a kc×kNR panel of B (16 KB) stays in L1
template <class T>
constexpr int64_t kNC = (int64_t{1} << 20) / (kKC * static_cast<int64_t>(sizeof(T)));  // 1 MB of packed B

template <class T>
void micro_kernel(int64_t kc, const T* ap, const T* bp, T* tile) {
  using V = typename Vec<T>::type;
  constexpr int W = Vec<T>::kWidth;
  V c[kMR][2] = {};
  for (int64_t p = 0; p < kc; ++p) {
    V b0, b1;
    std::memcpy(&b0, bp + p * 2 * W, sizeof(V));
    std::memcpy(&b1, bp + p * 2 * W + W, sizeof(V));
    for (int r = 0; r < kMR; ++r) {
      const V a = broadcast(ap[p * kMR + r]);
      c[r][0] = fmadd(a, b0, c[r][0]);
      c[r][1] = fmadd(a, b1, c[r][1]);
    }
  }
  for (int r = 0; r < kMR; ++r) {
    std::memcpy(tile + r * 2 * W, &c[r][0], sizeof(V));
    std::memcpy(tile + r * 2 * W + W, &c[r][1], sizeof(V));
  }
}

// Rows [i0, i0+mc) × columns [p0, p0+kc) of op(A) as kMR-row panels: panel q, step p holds op(A)[i0+q*kMR+r,
// p0+p] for r < kMR, zero past the last row.
template <class T>
void pack_a(const T* a, int64_t lda, bool trans, int64_t i0, int64_t mc, int64_t p0, int64_t kc, T* out) {
  for (int64_t ir = 0; ir < mc; ir += kMR) {
    const int64_t rows = std::min<int64_t>(kMR, mc - ir);
    T* o = out + ir * kc;
    if (rows < kMR) std::fill(o, o + kc * kMR, T(0));
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = i0 + ir + r;
      if (trans) {
        for (int64_t p = 0; p < kc; ++p) o[p * kMR + r] = a[(p0 + p) * lda + i];
      } else {
        const T* src = a + i * lda + p0;
        for (int64_t p = 0; p < kc; ++p) o[p * kMR + r] = src[p];
      }
    }
  }
}

// Rows [p0, p0+kc) × columns [j0, j0+nc) of op(B) as kNR-column panels, zero past the last column.
template <class T>
void pack_b_panel(const T* b, int64_t ldb, bool trans, int64_t p0, int64_t kc, int64_t j0, int64_t cols, T* o) {
  constexpr int NR = kNR<T>;
  if (cols < NR) std::fill(o, o + kc * NR, T(0));
  if (trans) {
    for (int64_t c = 0; c < cols; ++c) {
      const T* src = b + (j0 + c) * ldb + p0;
      for (int64_t p = 0; p < kc; ++p) o[p * NR + c] = src[p];
    }
  } else {
    for (int64_t p = 0; p < kc; ++p) {
      const T* src = b + (p0 + p) * ldb + j0;
      for (int64_t c = 0; c < cols; ++c) o[p * NR + c] = src[c];
    }
  }
}

// C[rows × cols] (+)= alpha * tile (+ beta * C), the tile's rows `tile_ld` apart.
template <class T>
void update_c(T* c, int64_t ldc, int64_t rows, int64_t cols, const T* tile, T alpha, T beta, bool first,
              int64_t tile_ld) {
  for (int64_t r = 0; r < rows; ++r) {
    T* dst = c + r * ldc;
    const T* t = tile + r * tile_ld;
    if (!first) {
      for (int64_t j = 0; j < cols; ++j) dst[j] += alpha * t[j];
    } else if (beta == T(0)) {  // C is not read: it may hold NaN or garbage
      for (int64_t j = 0; j < cols; ++j) dst[j] = alpha * t[j];
    } else {
      for (int64_t j = 0; j < cols; ++j) dst[j] = alpha * t[j] + beta * dst[j];
    }
  }
}

// Runs f(item) for item in [0, n), across threads when `threads` > 1. Dynamic: edge blocks are smaller.
template <class F>
void parallel_items(int64_t n, int threads, const F& f) {
#ifdef _OPENMP
  if (threads > 1 && n > 1) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  (void)threads;
  for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace

template <class T>
void small_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  using V = typename Vec<T>::type;
  constexpr int W = Vec<T>::kWidth;
  constexpr int kRows = 4;  // rows of C per tile: 4 independent accumulator chains hide most FMA latency
  if (m <= 0 || n <= 0) return;
  // B as k rows of np columns, zero-padded so that every vector load is whole. Reused across calls: a batch of
  // tiny products would otherwise spend its time in malloc.
  const int64_t np = (n + W - 1) / W * W;
  thread_local std::vector<T> bp;
  if (bp.size() < static_cast<size_t>(k * np)) bp.resize(static_cast<size_t>(k * np));
  for (int64_t p = 0; p < k; ++p) {
    T* dst = bp.data() + p * np;
    if (trans_b) {
      for (int64_t j = 0; j < n; ++j) dst[j] = b[j * ldb + p];
    } else {
      std::memcpy(dst, b + p * ldb, static_cast<size_t>(n) * sizeof(T));
    }
    for (int64_t j = n; j < np; ++j) dst[j] = T(0);
  }
  const int64_t a_step = trans_a ? lda : 1;  // distance between op(A)[i][p] and op(A)[i][p+1]
  alignas(32) T tile[kRows * W];
  for (int64_t i0 = 0; i0 < m; i0 += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, m - i0);
    // Rows past m repeat the last row: wasted work, but no branch in the inner loop.
    const T* arow[kRows];
    for (int r = 0; r < kRows; ++r) {
      const int64_t i = i0 + std::min<int64_t>(r, rows - 1);
      arow[r] = trans_a ? a + i : a + i * lda;
    }
    const T *a0 = arow[0], *a1 = arow[1], *a2 = arow[2], *a3 = arow[3];
    for (int64_t j0 = 0; j0 < np; j0 += W) {
      // Named accumulators: an array indexed in a loop tends to be kept in memory.
      V c0 = {}, c1 = {}, c2 = {}, c3 = {};
      const T* bcol = bp.data() + j0;
      for (int64_t p = 0; p < k; ++p) {
        V bv;
        std::memcpy(&bv, bcol + p * np, sizeof(V));
        const int64_t q = p * a_step;
        c0 = fmadd(broadcast(a0[q]), bv, c0);
        c1 = fmadd(broadcast(a1[q]), bv, c1);
        c2 = fmadd(broadcast(a2[q]), bv, c2);
        c3 = fmadd(broadcast(a3[q]), bv, c3);
      }
      std::memcpy(tile, &c0, sizeof(V));
      std::memcpy(tile + W, &c1, sizeof(V));
      std::memcpy(tile + 2 * W, &c2, sizeof(V));
      std::memcpy(tile + 3 * W, &c3, sizeof(V));
      update_c(c + i0 * ldc + j0, ldc, rows, std::min<int64_t>(W, n - j0), tile, alpha, beta, true, W);
    }
  }
}

template <class T>
void blocked_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                  const T* b, int64_t ldb, T beta, T* c, int64_t ldc, bool parallel) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == T(0)) {
    for (int64_t i = 0; i < m; ++i) {
      T* row = c + i * ldc;
      for (int64_t j = 0; j < n; ++j) row[j] = beta == T(0) ? T(0) : beta * row[j];
    }
    return;
  }
  constexpr int NR = kNR<T>;
  const int64_t nc_max = std::min(kNC<T>, (n + NR - 1) / NR * NR);
  const int64_t kc_max = std::min(kKC, k);
  std::vector<T> bpack(static_cast<size_t>(nc_max * kc_max));
  const int threads = parallel ? num_chunks(m * n * k, int64_t{1} << 16) : 1;
  // One A buffer per thread, found by thread number; filled per work item.
  std::vector<std::vector<T>> apacks(static_cast<size_t>(threads));
  const int64_t mblocks = (m + kMC - 1) / kMC;

  for (int64_t jc = 0; jc < n; jc += kNC<T>) {
    const int64_t nc = std::min(kNC<T>, n - jc);
    const int64_t panels = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < k; pc += kKC) {
      const int64_t kc = std::min(kKC, k - pc);
      const bool first = pc == 0;
      parallel_items(panels, threads, [&](int64_t q) {
        pack_b_panel(b, ldb, trans_b, pc, kc, jc + q * NR, std::min<int64_t>(NR, nc - q * NR),
                     bpack.data() + q * NR * kc);
      });
      // Split columns too when there are fewer row blocks than threads (small m); each piece then packs its
      // own copy of the A block, which costs 1/(panels per group) of the arithmetic.
      const int64_t groups = std::min<int64_t>(panels, std::max<int64_t>(1, (2 * threads + mblocks - 1) / mblocks));
      parallel_items(mblocks * groups, threads, [&](int64_t item) {
        const int64_t ib = item / groups, g = item % groups;
        const int64_t i0 = ib * kMC, mc = std::min(kMC, m - i0);
        int t = 0;
#ifdef _OPENMP
        if (threads > 1) t = omp_get_thread_num();
#endif
        std::vector<T>& apack = apacks[static_cast<size_t>(t)];
        apack.resize(static_cast<size_t>(kMC * kKC));
        pack_a(a, lda, trans_a, i0, mc, pc, kc, apack.data());
        alignas(32) T tile[kMR * NR];
        for (int64_t q = panels * g / groups; q < panels * (g + 1) / groups; ++q) {
          const int64_t j0 = q * NR, cols = std::min<int64_t>(NR, nc - j0);
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            micro_kernel(kc, apack.data() + ir * kc, bpack.data() + q * NR * kc, tile);
            update_c(c + (i0 + ir) * ldc + jc + j0, ldc, std::min<int64_t>(kMR, mc - ir), cols, tile, alpha, beta,
                     first, NR);
          }
        }
      });
    }
  }
}

template void small_gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                const float*, int64_t, float, float*, int64_t);
template void small_gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                 const double*, int64_t, double, double*, int64_t);
template void blocked_gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                  const float*, int64_t, float, float*, int64_t, bool);
template void blocked_gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                   const double*, int64_t, double, double*, int64_t, bool);

}  // namespace iccrt::kernels::cpu::detail
