// Scaled dot-product attention on CPU, flash-attention style: queries and keys are taken in blocks and the
// softmax is computed online (running row max and sum, output rescaled as the max grows), so memory holds one
// query block's scores against one key block at a time, never the [tq, tk] matrix.
//
// float16/bfloat16 inputs are converted to float once (a pass over each input), and all arithmetic is in the
// compute type C (float, or double for float64). Block products go through block_gemm below, a register-tiled
// kernel on the compiler's vector types that also skips the causally masked part of diagonal blocks. Measured on
// one thread for B*H = 48, T = 256, D = 64, causal, float32 (AVX2): forward 10.6 ms and backward 19.5 ms, against
// 13-15 ms and 27-30 ms with each block product through kernels::cpu::gemm (OpenBLAS at these sizes), and 22 ms
// and 49 ms through detail::small_gemm (4-accumulator tiles, B repacked on every call). block_gemm alone runs a
// 64 x 64 x 64 product at about 70 GFLOP/s there, small_gemm at about 30.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "iccrt/core/dtype.hpp"
#include "kernels/cpu/half_block.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/vec_math.hpp"

#ifdef __AVX__
#include <immintrin.h>
#endif

namespace iccrt::kernels::cpu {
namespace {

// Query and key block sizes: one block's scores, its output accumulator and a 16-column panel of K stay in L1/L2.
constexpr int64_t kBq = 64;
constexpr int64_t kBk = 64;

typedef double v4d __attribute__((vector_size(32)));
template <class C>
struct Lanes;
template <>
struct Lanes<float> {
  using V = detail::v8f;
  static constexpr int n = 8;
};
template <>
struct Lanes<double> {
  using V = v4d;
  static constexpr int n = 4;
};

template <class V, class C>
inline V vload(const C* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <class V, class C>
inline void vstore(C* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}

// C (=, or += when acc) A B for one tile of MR rows and NV vectors of columns, all accumulators in registers.
// A(r, p) = a[r * ars + p * acs] (so a transposed A costs nothing: its elements are broadcast one at a time);
// B is row-major with row stride ldb; C row-major with row stride ldc.
template <class C, int MR, int NV>
inline void tile(int64_t k, const C* a, int64_t ars, int64_t acs, const C* b, int64_t ldb, C* c, int64_t ldc,
                 bool acc) {
  using V = typename Lanes<C>::V;
  constexpr int L = Lanes<C>::n;
  V s[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) s[r][v] = acc ? vload<V>(c + r * ldc + v * L) : V{};
  for (int64_t p = 0; p < k; ++p) {
    V bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = vload<V>(b + p * ldb + v * L);
    for (int r = 0; r < MR; ++r) {
      const C x = a[r * ars + p * acs];
      for (int v = 0; v < NV; ++v) s[r][v] += x * bv[v];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) vstore(c + r * ldc + v * L, s[r][v]);
}

// Six rows by two vectors: 12 accumulators + 2 loads + 1 broadcast fill the 16 AVX registers.
constexpr int kMr = 6;

template <class C, int NV>
void tile_rows(int64_t mr, int64_t k, const C* a, int64_t ars, int64_t acs, const C* b, int64_t ldb, C* c, int64_t ldc,
               bool acc) {
  switch (mr) {
    case 6:
      tile<C, 6, NV>(k, a, ars, acs, b, ldb, c, ldc, acc);
      break;
    case 5:
      tile<C, 5, NV>(k, a, ars, acs, b, ldb, c, ldc, acc);
      break;
    case 4:
      tile<C, 4, NV>(k, a, ars, acs, b, ldb, c, ldc, acc);
      break;
    case 3:
      tile<C, 3, NV>(k, a, ars, acs, b, ldb, c, ldc, acc);
      break;
    case 2:
      tile<C, 2, NV>(k, a, ars, acs, b, ldb, c, ldc, acc);
      break;
    case 1:
      tile<C, 1, NV>(k, a, ars, acs, b, ldb, c, ldc, acc);
      break;
    default:
      break;
  }
}

// The causal mask seen from one block product, so that work on masked scores is skipped rather than done and
// thrown away. In block-local indices query r sees key j iff j <= r + off. Which operand dim is the key
// differs by product:
//   Rows:     C is [queries, keys] (S, dP): output column j needs only rows r >= j - off (the others are
//             masked, and the caller ignores them);
//   KeysEnd:  C is [queries, *], k runs over keys (P V, dS K): row r reads keys j < r + off + 1 only;
//   KeysFrom: C is [keys, *], k runs over queries (P^T dO, dS^T Q): row j reads queries r >= j - off only.
// The skipped terms multiply masked (zero) probabilities, so the results are unchanged.
struct Band {
  enum Kind { kNone, kRows, kKeysEnd, kKeysFrom } kind = kNone;
  int64_t off = 0;
};

template <class C, int NV>
void column_panel(int64_t m, int64_t k, const C* a, int64_t ars, int64_t acs, const C* b, int64_t ldb, C* c,
                  int64_t ldc, bool acc, Band band, int64_t col) {
  int64_t i = band.kind == Band::kRows ? std::clamp<int64_t>(col - band.off, 0, m) : 0;
  for (; i < m; i += kMr) {
    const int64_t mr = std::min<int64_t>(kMr, m - i);
    int64_t k0 = 0, k1 = k;
    if (band.kind == Band::kKeysEnd) k1 = std::clamp<int64_t>(i + mr + band.off, 0, k);
    if (band.kind == Band::kKeysFrom) k0 = std::clamp<int64_t>(i - band.off, 0, k);
    if (k1 <= k0 && acc) continue;
    tile_rows<C, NV>(mr, std::max<int64_t>(k1 - k0, 0), a + i * ars + k0 * acs, ars, acs, b + k0 * ldb, ldb,
                     c + i * ldc, ldc, acc);
  }
}

// C[m, n] (=, or += when acc) A[m, k] B[k, n] with the layouts of `tile`, for the small blocks of this file.
template <class C>
void block_gemm(int64_t m, int64_t n, int64_t k, const C* a, int64_t ars, int64_t acs, const C* b, int64_t ldb, C* c,
                int64_t ldc, bool acc, Band band = {}) {
  constexpr int L = Lanes<C>::n;
  int64_t j = 0;
  for (; j + 2 * L <= n; j += 2 * L) column_panel<C, 2>(m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc, band, j);
  for (; j + L <= n; j += L) column_panel<C, 1>(m, k, a, ars, acs, b + j, ldb, c + j, ldc, acc, band, j);
  for (; j < n; ++j) {  // the last n % L columns (odd head sizes, the last key block), in full
    for (int64_t i = 0; i < m; ++i) {
      C s = acc ? c[i * ldc + j] : C(0);
      for (int64_t p = 0; p < k; ++p) s += a[i * ars + p * acs] * b[p * ldb + j];
      c[i * ldc + j] = s;
    }
  }
}

// Max of s[0, n) (n >= 1).
inline float row_max(const float* s, int64_t n) {
  using V = detail::v8f;
  int64_t j = 0;
  float m = -std::numeric_limits<float>::infinity();
  if (n >= 8) {
    V mv = vload<V>(s);
    for (j = 8; j + 8 <= n; j += 8) {
      const V x = vload<V>(s + j);
      mv = detail::select(x > mv, x, mv);
    }
    for (int l = 0; l < 8; ++l) m = std::max(m, mv[l]);
  }
  for (; j < n; ++j) m = std::max(m, s[j]);
  return m;
}
inline double row_max(const double* s, int64_t n) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < n; ++j) m = std::max(m, s[j]);
  return m;
}

// s[j] = exp(s[j] * mul - sub) for j < n; returns their sum.
inline float exp_row(float* s, int64_t n, float mul, float sub) {
  using V = detail::v8f;
  V sum{};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const V e = detail::exp_v(vload<V>(s + j) * mul - sub);
    vstore(s + j, e);
    sum += e;
  }
  if (j < n) {  // the tail through a vector padded with -inf, whose exp is 0
    V x = detail::splat(-std::numeric_limits<float>::infinity());
    for (int l = 0; l < 8 && j + l < n; ++l) x[l] = s[j + l] * mul - sub;
    const V e = detail::exp_v(x);
    for (int l = 0; l < 8 && j + l < n; ++l) s[j + l] = e[l];
    sum += e;
  }
  float total = 0.0f;
  for (int l = 0; l < 8; ++l) total += sum[l];
  return total;
}
inline double exp_row(double* s, int64_t n, double mul, double sub) {
  double total = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    s[j] = std::exp(s[j] * mul - sub);
    total += s[j];
  }
  return total;
}

// Keys visible to query i within the key block starting at j0 of nk keys.
inline int64_t visible(const AttentionArgs& a, int64_t i, int64_t j0, int64_t nk) {
  if (!a.causal) return nk;
  return std::clamp<int64_t>(i + (a.tk - a.tq) + 1 - j0, 0, nk);
}

// Uninitialised scratch (a std::vector would zero it first, a pass over memory for nothing).
template <class C>
std::unique_ptr<C[]> scratch(int64_t n) {
  return std::unique_ptr<C[]>(new C[static_cast<size_t>(std::max<int64_t>(n, 1))]);
}

// The Band of the block product between query block i0 and key block j0.
inline Band band(const AttentionArgs& a, Band::Kind kind, int64_t i0, int64_t j0) {
  return a.causal ? Band{kind, i0 + (a.tk - a.tq) - j0} : Band{};
}

// `src` (n elements of T) as compute type C: itself when T is C, else converted into `buf`.
template <class T, class C>
const C* as_compute(const T* src, int64_t n, std::unique_ptr<C[]>& buf) {
  if constexpr (std::is_same_v<T, C>) {
    return src;
  } else {
    buf = scratch<C>(n);
    C* out = buf.get();
    detail::parallel_for(n, detail::kParallelGrain,
                         [&](int64_t b, int64_t e) { detail::to_float(src + b, out + b, e - b); });
    return out;
  }
}

// dst[p * ldd + j] = src[j * lds + p] for j < rows, p < cols: a [rows, cols] block transposed.
template <class C>
void transpose_block(const C* src, int64_t rows, int64_t cols, int64_t lds, C* dst, int64_t ldd) {
  int64_t j0 = 0;
#ifdef __AVX__
  if constexpr (std::is_same_v<C, float>) {
    // 8 x 8 tiles through registers (unpack, shuffle, swap 128-bit halves). The scalar loop below, with its
    // strided reads, took 2 ns per element: 8% of the forward at T = 256, D = 64.
    for (; j0 + 8 <= rows; j0 += 8) {
      int64_t p0 = 0;
      for (; p0 + 8 <= cols; p0 += 8) {
        const float* s = src + j0 * lds + p0;
        __m256 r[8], t[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(s + i * lds);
        for (int i = 0; i < 8; i += 2) {
          t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
          t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
        }
        for (int i = 0; i < 8; i += 4) {
          r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
          r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
          r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
          r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
        }
        float* o = dst + p0 * ldd + j0;
        for (int i = 0; i < 4; ++i) {
          _mm256_storeu_ps(o + i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
          _mm256_storeu_ps(o + (i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
        }
      }
      for (; p0 < cols; ++p0)
        for (int64_t j = j0; j < j0 + 8; ++j) dst[p0 * ldd + j] = src[j * lds + p0];
    }
  }
#endif
  for (; j0 < rows; j0 += 8) {
    const int64_t j1 = std::min(rows, j0 + 8);
    for (int64_t p = 0; p < cols; ++p)
      for (int64_t j = j0; j < j1; ++j) dst[p * ldd + j] = src[j * lds + p];
  }
}

// Items per parallel chunk when each item costs `work` multiply-adds. Vectorised multiply-adds run about 8 per
// element of simple work (what kParallelGrain counts), and a parallel region costs microseconds to open even on
// an idle machine (milliseconds on a busy one), so small problems stay on the calling thread.
inline int64_t grain_for(int64_t work) {
  return std::max<int64_t>(1, 8 * detail::kParallelGrain / std::max<int64_t>(work, 1));
}

// Tasks per batch entry in the backward. T threads take contiguous runs of the B * groups tasks, so the last
// finishes after ceil(B * groups / T) tasks, each 1 / groups of a batch entry; the smallest groups that
// minimises that is taken (more groups cost a dQ partial each and a pass to sum them).
inline int64_t backward_groups(int64_t B, int64_t nkb, int64_t work) {
  const int64_t threads = detail::max_threads();
  if (threads <= 1 || nkb <= 1 || B * work < 2 * 8 * detail::kParallelGrain) return 1;
  int64_t best = 1;
  double best_finish = static_cast<double>((B + threads - 1) / threads);
  for (int64_t g = 2; g <= nkb && B * (g - 1) < 4 * threads; ++g) {
    const double finish = static_cast<double>((B * g + threads - 1) / threads) / static_cast<double>(g);
    if (finish < best_finish * 0.95) {
      best = g;
      best_finish = finish;
    }
  }
  return best;
}

// Order of query blocks within a batch: with a causal mask block qb costs about qb + 1 key blocks, so blocks
// are taken from both ends alternately (0, n-1, 1, n-2, ...) and the contiguous task ranges that parallel_for
// hands to threads cost about the same.
inline int64_t query_block_at(int64_t t, int64_t nqb, bool causal) {
  if (!causal) return t;
  return (t % 2 == 0) ? t / 2 : nqb - 1 - t / 2;
}

template <class T>
void forward_typed(const AttentionArgs& a) {
  using C = opmath_t<T>;
  const int64_t B = a.batch, tq = a.tq, tk = a.tk, d = a.d, dv = a.dv;
  const C scale = static_cast<C>(a.scale);
  std::unique_ptr<C[]> qbuf, vbuf;
  const C* q = as_compute(static_cast<const T*>(a.q), B * tq * d, qbuf);
  const C* v = as_compute(static_cast<const T*>(a.v), B * tk * dv, vbuf);
  // K transposed per batch to [d, tk]: S = Q K^T then multiplies row-major blocks. Shared by every query block
  // of the batch, so it is made once here rather than per (query block, key block) pair.
  // Rows padded by 16 elements: with a power-of-two stride (tk = 256 is 1 KiB) the 8 rows a transposed tile
  // writes, and the rows of the panels block_gemm reads, would all fall into a few cache sets.
  const int64_t ldk = (tk + 15) / 16 * 16 + 16;
  const auto kt = scratch<C>(B * d * ldk);
  detail::parallel_for(B, grain_for(8 * d * tk), [&](int64_t b0, int64_t b1) {
    std::vector<float> row(static_cast<size_t>(std::is_same_v<T, C> ? 0 : std::min(tk, kBk) * d));
    for (int64_t b = b0; b < b1; ++b) {
      const T* kb = static_cast<const T*>(a.k) + b * tk * d;
      for (int64_t j0 = 0; j0 < tk; j0 += kBk) {
        const int64_t nk = std::min(kBk, tk - j0);
        const C* src;
        if constexpr (std::is_same_v<T, C>) {
          src = kb + j0 * d;
        } else {
          detail::to_float(kb + j0 * d, row.data(), nk * d);
          src = row.data();
        }
        transpose_block(src, nk, d, d, kt.get() + b * d * ldk + j0, ldk);
      }
    }
  });

  T* out = static_cast<T*>(a.out);
  C* lse = static_cast<C*>(a.lse);
  const int64_t nqb = (tq + kBq - 1) / kBq;
  detail::parallel_for(B * nqb, grain_for(std::min(kBq, tq) * tk * (d + dv)), [&](int64_t t0, int64_t t1) {
    std::vector<C> s(kBq * kBk), o(kBq * dv), m(kBq), l(kBq);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / nqb, i0 = query_block_at(t % nqb, nqb, a.causal) * kBq;
      const int64_t nq = std::min(kBq, tq - i0);
      const C* qb = q + (b * tq + i0) * d;
      const C* ktb = kt.get() + b * d * ldk;
      std::fill(m.begin(), m.end(), -std::numeric_limits<C>::infinity());
      std::fill(l.begin(), l.end(), C(0));
      std::fill(o.begin(), o.end(), C(0));
      // Keys past the last row's horizon are masked for every row of the block: their blocks are skipped.
      const int64_t kend = a.causal ? std::clamp<int64_t>(i0 + nq + tk - tq, 0, tk) : tk;
      for (int64_t j0 = 0; j0 < kend; j0 += kBk) {
        const int64_t nk = std::min(kBk, kend - j0);
        block_gemm<C>(nq, nk, d, qb, d, 1, ktb + j0, ldk, s.data(), kBk, false, band(a, Band::kRows, i0, j0));
        for (int64_t r = 0; r < nq; ++r) {
          C* sr = s.data() + r * kBk;
          const int64_t nv = visible(a, i0 + r, j0, nk);
          if (nv == 0) {
            std::fill(sr, sr + nk, C(0));
            continue;
          }
          // Scores are scale * s; scale > 0, so their max is scale * max(s).
          const C mx = std::max(m[r], scale * row_max(sr, nv));
          const C alpha = std::exp(m[r] - mx);  // 0 on the first visible block (m = -inf)
          const C sum = exp_row(sr, nv, scale, mx);
          std::fill(sr + nv, sr + nk, C(0));
          l[r] = l[r] * alpha + sum;
          m[r] = mx;
          if (alpha != C(1)) {
            C* orow = o.data() + r * dv;
            for (int64_t c = 0; c < dv; ++c) orow[c] *= alpha;
          }
        }
        block_gemm<C>(nq, dv, nk, s.data(), kBk, 1, v + (b * tk + j0) * dv, dv, o.data(), dv, true,
                      band(a, Band::kKeysEnd, i0, j0));
      }
      for (int64_t r = 0; r < nq; ++r) {
        const int64_t i = b * tq + i0 + r;
        C* orow = o.data() + r * dv;
        // A query that sees no key (causal with tq > tk, or tk == 0) has l = 0: out 0, lse -inf.
        const C inv = l[r] > C(0) ? C(1) / l[r] : C(0);
        for (int64_t c = 0; c < dv; ++c) orow[c] *= inv;
        lse[i] = l[r] > C(0) ? m[r] + std::log(l[r]) : -std::numeric_limits<C>::infinity();
        if constexpr (std::is_same_v<T, C>) {
          std::copy(orow, orow + dv, out + i * dv);
        } else {
          detail::from_float(orow, out + i * dv, dv);
        }
      }
    }
  });
}

template <class T>
void backward_typed(const AttentionArgs& a) {
  using C = opmath_t<T>;
  const int64_t B = a.batch, tq = a.tq, tk = a.tk, d = a.d, dv = a.dv;
  const C scale = static_cast<C>(a.scale);
  std::unique_ptr<C[]> qbuf, kbuf, vbuf, gobuf, obuf;
  const C* q = as_compute(static_cast<const T*>(a.q), B * tq * d, qbuf);
  const C* k = as_compute(static_cast<const T*>(a.k), B * tk * d, kbuf);
  const C* v = as_compute(static_cast<const T*>(a.v), B * tk * dv, vbuf);
  const C* go = as_compute(static_cast<const T*>(a.grad_out), B * tq * dv, gobuf);
  const C* o = as_compute(static_cast<const T*>(a.out), B * tq * dv, obuf);
  const C* lse = static_cast<const C*>(a.lse);
  C* gq = static_cast<C*>(a.grad_q);
  C* gk = static_cast<C*>(a.grad_k);
  C* gv = static_cast<C*>(a.grad_v);

  // delta_i = rowsum(dO * O) = sum_j P_ij dP_ij: the softmax backward's subtrahend, once per query.
  std::vector<C> delta(static_cast<size_t>(B * tq));
  detail::parallel_for(B * tq, std::max<int64_t>(1, detail::kParallelGrain / std::max<int64_t>(dv, 1)),
                       [&](int64_t r0, int64_t r1) {
                         for (int64_t r = r0; r < r1; ++r) {
                           C acc = 0;
                           for (int64_t c = 0; c < dv; ++c) acc += go[r * dv + c] * o[r * dv + c];
                           delta[r] = acc;
                         }
                       });

  // Work is split by key blocks, which own their rows of dK and dV outright. dQ gathers from every key block:
  // with one task per batch entry it accumulates straight into grad_q; otherwise each batch entry is split into
  // `groups` tasks, each with its own dQ partial, summed in a fixed order afterwards (deterministic).
  const int64_t nkb = (tk + kBk - 1) / kBk;
  const int64_t work = tq * tk * (2 * d + 3 * dv);  // per batch entry: five products over all blocks
  const int64_t groups = backward_groups(B, nkb, work);
  std::vector<C> partial(groups > 1 ? static_cast<size_t>(B * groups * tq * d) : 0);
  detail::parallel_for(B * groups, grain_for(work / groups), [&](int64_t t0, int64_t t1) {
    std::vector<C> kt(d * kBk), vt(dv * kBk), p(kBq * kBk), ds(kBq * kBk);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / groups, g = t % groups;
      C* dq = groups == 1 ? gq + b * tq * d : partial.data() + t * tq * d;
      // Key blocks are dealt to the groups in a snake order (0..G-1, then G-1..0, ...): with a causal mask
      // block jb costs about nkb - jb query blocks, and the snake gives every group about the same total.
      for (int64_t round = 0; round * groups < nkb; ++round) {
        const int64_t jb = round * groups + (round % 2 == 0 ? g : groups - 1 - g);
        if (jb >= nkb) continue;
        const int64_t j0 = jb * kBk, nk = std::min(kBk, tk - j0);
        const C* kb = k + (b * tk + j0) * d;
        const C* vb = v + (b * tk + j0) * dv;
        transpose_block(kb, nk, d, d, kt.data(), kBk);
        transpose_block(vb, nk, dv, dv, vt.data(), kBk);
        C* dk = gk + (b * tk + j0) * d;
        C* dvb = gv + (b * tk + j0) * dv;
        // Queries before j0 - (tk - tq) see none of this block's keys.
        const int64_t first = a.causal ? std::max<int64_t>(0, j0 - (tk - tq)) : 0;
        for (int64_t i0 = first / kBq * kBq; i0 < tq; i0 += kBq) {
          const int64_t nq = std::min(kBq, tq - i0);
          const C* qb = q + (b * tq + i0) * d;
          const C* gob = go + (b * tq + i0) * dv;
          block_gemm<C>(nq, nk, d, qb, d, 1, kt.data(), kBk, p.data(), kBk, false, band(a, Band::kRows, i0, j0));
          block_gemm<C>(nq, nk, dv, gob, dv, 1, vt.data(), kBk, ds.data(), kBk, false,
                        band(a, Band::kRows, i0, j0));  // dP = dO V^T
          for (int64_t r = 0; r < nq; ++r) {
            C* pr = p.data() + r * kBk;
            C* dsr = ds.data() + r * kBk;
            const int64_t i = b * tq + i0 + r;
            const int64_t nv = lse[i] == -std::numeric_limits<C>::infinity() ? 0 : visible(a, i0 + r, j0, nk);
            exp_row(pr, nv, scale, lse[i]);  // P recomputed from the saved lse
            // dS = P (dP - delta), times scale once here for both dQ and dK.
            const C di = delta[i];
            for (int64_t j = 0; j < nv; ++j) dsr[j] = pr[j] * (dsr[j] - di) * scale;
            std::fill(pr + nv, pr + nk, C(0));
            std::fill(dsr + nv, dsr + nk, C(0));
          }
          block_gemm<C>(nk, dv, nq, p.data(), 1, kBk, gob, dv, dvb, dv, true,
                        band(a, Band::kKeysFrom, i0, j0));  // dV += P^T dO
          block_gemm<C>(nk, d, nq, ds.data(), 1, kBk, qb, d, dk, d, true,
                        band(a, Band::kKeysFrom, i0, j0));  // dK += dS^T Q
          block_gemm<C>(nq, d, nk, ds.data(), kBk, 1, kb, d, dq + i0 * d, d, true,
                        band(a, Band::kKeysEnd, i0, j0));  // dQ += dS K
        }
      }
    }
  });
  if (groups > 1) {
    const int64_t per_batch = tq * d;
    detail::parallel_for(B * per_batch, detail::kParallelGrain, [&](int64_t e0, int64_t e1) {
      for (int64_t e = e0; e < e1; ++e) {
        const int64_t b = e / per_batch, r = e % per_batch;
        C acc = gq[e];
        for (int64_t g = 0; g < groups; ++g) acc += partial[(b * groups + g) * per_batch + r];
        gq[e] = acc;
      }
    });
  }
}

}  // namespace

void attention_forward(const AttentionArgs& a) {
  if (a.batch <= 0 || a.tq <= 0) return;
  dispatch_floating(a.dtype, "attention_forward", [&](auto tag) { forward_typed<typename decltype(tag)::type>(a); });
}

void attention_backward(const AttentionArgs& a) {
  if (a.batch <= 0 || (a.tq <= 0 && a.tk <= 0)) return;
  dispatch_floating(a.dtype, "attention_backward", [&](auto tag) { backward_typed<typename decltype(tag)::type>(a); });
}

}  // namespace iccrt::kernels::cpu
