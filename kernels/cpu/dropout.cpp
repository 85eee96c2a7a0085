// Dropout with a counter-based mask (rule in nn_args.hpp): element i is kept iff
// philox_uniform_f32(philox_word(seed, offset, i)) >= p. The backward applies the same mask to the gradient,
// so forward and backward are one kernel.
//
// Note [Dropout mask as an integer test]
// philox_uniform_f32(w) is (w >> 8) * 2^-24 exactly, so "u >= p" is "(w >> 8) >= ceil(p * 2^24)" (p * 2^24 is
// exact in double). The integer form vectorises and is the same rule bit for bit; p == 1 gives a bound of 2^24,
// above every 24-bit value, so nothing is kept.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "kernels/common/philox.hpp"
#include "kernels/cpu/half_block.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cpu/parallel.hpp"

namespace iccrt::kernels::cpu {
namespace {

constexpr int64_t kBlock = detail::kBlock;

// Note [Philox blocks in vector lanes]
// The mask needs one Philox block per 4 elements, and a block is 10 dependent rounds of two 32x32->64
// multiplies: scalar, that is most of dropout's time. With AVX2, 8 consecutive blocks run side by side, one per
// 32-bit lane (vpmuludq multiplies the even lanes, a shifted copy the odd ones). The rounds are those of
// philox4x32_10 (philox.hpp), which computes the remaining blocks; the mask-rule test checks the words against
// philox_word.
#ifdef __AVX2__
inline void mulhilo8(__m256i a, __m256i m, __m256i& hi, __m256i& lo) {
  const __m256i even = _mm256_mul_epu32(a, m);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

// words[4 j + l] = word l of block first + j, for j in [0, 8 kGroups). The groups are independent chains of
// rounds that the core overlaps; one alone would wait on each multiply's latency.
constexpr int kGroups = 4;
inline void philox_lanes(uint64_t first, uint64_t seed, uint32_t* words) {
  alignas(32) uint32_t lo[kGroups][8], hi[kGroups][8];
  for (int j = 0; j < 8 * kGroups; ++j) {
    lo[j / 8][j % 8] = static_cast<uint32_t>(first + j);
    hi[j / 8][j % 8] = static_cast<uint32_t>((first + j) >> 32);
  }
  __m256i c0[kGroups], c1[kGroups], c2[kGroups], c3[kGroups];
  for (int g = 0; g < kGroups; ++g) {
    c0[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo[g]));
    c1[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi[g]));
    c2[g] = c3[g] = _mm256_setzero_si256();
  }
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  for (int r = 0; r < 10; ++r) {
    const __m256i kv0 = _mm256_set1_epi32(static_cast<int>(k0)), kv1 = _mm256_set1_epi32(static_cast<int>(k1));
    for (int g = 0; g < kGroups; ++g) {
      __m256i hi0, lo0, hi1, lo1;
      mulhilo8(c0[g], m0, hi0, lo0);
      mulhilo8(c2[g], m1, hi1, lo1);
      c0[g] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[g]), kv0);
      c2[g] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[g]), kv1);
      c1[g] = lo1;
      c3[g] = lo0;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  for (int g = 0; g < kGroups; ++g) {
    alignas(32) uint32_t v[4][8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(v[0]), c0[g]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(v[1]), c1[g]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(v[2]), c2[g]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(v[3]), c3[g]);
    for (int j = 0; j < 8; ++j)
      for (int l = 0; l < 4; ++l) words[4 * (8 * g + j) + l] = v[l][j];
  }
}
#endif

// words[4 k + l] = word l of block first + k, for k in [0, nb).
void philox_blocks(uint64_t first, uint64_t seed, int64_t nb, uint32_t* words) {
  int64_t k = 0;
#ifdef __AVX2__
  for (; k + 8 * kGroups <= nb; k += 8 * kGroups) philox_lanes(first + static_cast<uint64_t>(k), seed, words + 4 * k);
#endif
  for (; k < nb; ++k) {
    const Philox4 r = philox4x32_10(first + static_cast<uint64_t>(k), seed);
    for (int l = 0; l < 4; ++l) words[4 * k + l] = r.v[l];
  }
}

// The words of elements [first, first + len) of the draw, computed into `buf` (kBlock + 8 words).
const uint32_t* draw_words(uint64_t seed, uint64_t offset, int64_t first, int64_t len, uint32_t* buf) {
  const uint64_t w0 = offset + static_cast<uint64_t>(first), w1 = w0 + static_cast<uint64_t>(len);
  const uint64_t b0 = w0 >> 2;
  philox_blocks(b0, seed, static_cast<int64_t>(((w1 + 3) >> 2) - b0), buf);
  return buf + (w0 & 3);
}

// y = keep ? x * scale : 0, keep being the mask test on the words (Note [Dropout mask as an integer test]). The
// select is an AND with an all-ones / all-zeros lane mask: written as ?:, GCC moves the multiply into the kept
// branch and then, because a float multiply may trap, will not turn the branch back into a vector select.
// Dropped elements are +0 whatever x holds (inf, NaN).
template <class M>
void mask_scale(const M* __restrict x, const uint32_t* __restrict w, M* __restrict y, int64_t n, uint32_t bound,
                M scale) {
  using U = std::conditional_t<sizeof(M) == 4, uint32_t, uint64_t>;
  for (int64_t i = 0; i < n; ++i) {
    const M v = x[i] * scale;
    U bits;
    std::memcpy(&bits, &v, sizeof(bits));
    bits &= U(0) - static_cast<U>((w[i] >> 8) >= bound);
    std::memcpy(&y[i], &bits, sizeof(bits));
  }
}

template <class T>
void apply(const DropoutArgs& a) {
  using M = opmath_t<T>;
  const T* in = static_cast<const T*>(a.in);
  T* out = static_cast<T*>(a.out);
  const uint32_t bound = static_cast<uint32_t>(std::ceil(a.p * 16777216.0));
  const M scale = a.p < 1.0 ? static_cast<M>(1.0 / (1.0 - a.p)) : M(0);
  // Philox costs about as much as a few transcendental ops per element.
  detail::parallel_for(a.n, 4096, [&](int64_t b, int64_t e) {
    alignas(32) uint32_t words[kBlock + 8];
    alignas(32) float xb[kBlock], yb[kBlock];
    for (int64_t s = b; s < e; s += kBlock) {
      const int64_t len = std::min(kBlock, e - s);
      const uint32_t* w = draw_words(a.seed, a.offset, s, len, words);
      if constexpr (detail::is_half_like<T>) {
        detail::to_float(in + s, xb, len);
        mask_scale<float>(xb, w, yb, len, bound, scale);
        detail::from_float(yb, out + s, len);
      } else {
        mask_scale<M>(in + s, w, out + s, len, bound, scale);
      }
    }
  });
}

void run(const DropoutArgs& a, const char* name) {
  if (a.n <= 0) return;
  ICCRT_ASSERT(a.p >= 0.0 && a.p <= 1.0, name, ": p = ", a.p);
  dispatch_floating(a.dtype, name, [&](auto tag) { apply<typename decltype(tag)::type>(a); });
}

}  // namespace

void dropout_forward(const DropoutArgs& a) { run(a, "dropout"); }
void dropout_backward(const DropoutArgs& a) { run(a, "dropout_backward"); }

}  // namespace iccrt::kernels::cpu
