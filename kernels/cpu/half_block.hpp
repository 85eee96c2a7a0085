#pragma once
// Converting runs of float16/bfloat16 to and from float. The per-value conversions in half.hpp branch on
// subnormals and NaN, which stops the compiler vectorising any loop they sit in, so 16-bit kernels convert a
// block at a time with these and run their arithmetic on float blocks. F16C (every AVX2 CPU has it) converts
// 8 halves per instruction and rounds to nearest even like half.hpp, bit for bit, including NaN payloads.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "iccrt/core/half.hpp"

#ifdef __F16C__
#include <immintrin.h>
#endif

namespace iccrt::kernels::cpu::detail {

// Elements per conversion block: small enough that a few float blocks stay in L1.
constexpr int64_t kBlock = 512;

inline void to_float(const Half* src, float* dst, int64_t n) {
  int64_t i = 0;
#ifdef __F16C__
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

inline void from_float(const float* src, Half* dst, int64_t n) {
  int64_t i = 0;
#ifdef __F16C__
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
#endif
  for (; i < n; ++i) dst[i] = Half(src[i]);
}

// bfloat16 is the top half of a float, so both directions are integer shifts the compiler vectorises; the
// rounding below is the branch-free form of float_to_bf16_bits.
inline void to_float(const BFloat16* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = static_cast<uint32_t>(src[i].bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    dst[i] = f;
  }
}

inline void from_float(const float* src, BFloat16* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t x;
    std::memcpy(&x, &src[i], 4);
    const uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (x >> 16) | 0x40u;
    dst[i].bits = static_cast<uint16_t>((x & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
  }
}

template <class T>
inline constexpr bool is_half_like = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

}  // namespace iccrt::kernels::cpu::detail
