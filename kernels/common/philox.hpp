#pragma once
// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11). A counter and a key in,
// four 32-bit random words out; no state, so element i of a draw is computed independently on CPU or GPU.
#include <cmath>
#include <cstdint>

#include <type_traits>

#include "iccrt/core/export.hpp"
#include "iccrt/core/half.hpp"

namespace iccrt::kernels {

struct Philox4 {
  uint32_t v[4];
};

ICCRT_HD inline void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// The four words for counter block `block` under key `seed`.
ICCRT_HD inline Philox4 philox4x32_10(uint64_t block, uint64_t seed) {
  uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(0xD2511F53u, c0, hi0, lo0);
    philox_mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// The 32-bit word number `i` of the stream that starts at counter word `offset` (offset is a multiple of 4).
ICCRT_HD inline uint32_t philox_word(uint64_t seed, uint64_t offset, uint64_t i) {
  const uint64_t w = offset + i;
  return philox4x32_10(w >> 2, seed).v[w & 3];
}

// [0, 1) with 24 random bits (exactly representable in float).
ICCRT_HD inline float philox_uniform_f32(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }
// [0, 1) with 53 random bits from two words.
ICCRT_HD inline double philox_uniform_f64(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}
// (0, 1]: safe to take the log of.
ICCRT_HD inline double philox_open_f64(uint32_t hi, uint32_t lo) { return 1.0 - philox_uniform_f64(hi, lo); }

// Words a draw of n values consumes: uniform float32/16/bf16 take 1 word each, float64 2; normal takes 2 words
// (float32 family, Box-Muller with 32-bit inputs) or 4 (float64).
ICCRT_HD inline uint64_t philox_words_per_value(bool is_double, bool normal) {
  return (is_double ? 2u : 1u) * (normal ? 2u : 1u);
}


// Value i of a draw whose generator offset is `offset` (a multiple of 4). Both CPU and CUDA kernels call these,
// so a seed gives the same values on either device (up to the last ulp of log/cos for normals).
ICCRT_HD inline double philox_uniform_at(uint64_t seed, uint64_t offset, uint64_t i, bool is_double) {
  if (!is_double) return philox_uniform_f32(philox_word(seed, offset, i));
  const uint64_t w = offset + 2 * i;  // even, so both words lie in one block
  const Philox4 r = philox4x32_10(w >> 2, seed);
  const unsigned l = static_cast<unsigned>(w & 3);
  return philox_uniform_f64(r.v[l], r.v[l + 1]);
}

// Box-Muller (cosine branch only, so each value depends on its own words).
ICCRT_HD inline double philox_normal_at(uint64_t seed, uint64_t offset, uint64_t i, bool is_double) {
  double u1, u2;
  if (!is_double) {
    const uint64_t w = offset + 2 * i;
    const Philox4 r = philox4x32_10(w >> 2, seed);
    const unsigned l = static_cast<unsigned>(w & 3);
    u1 = (static_cast<double>(r.v[l] >> 8) + 1.0) * (1.0 / 16777216.0);  // (0, 1]
    u2 = philox_uniform_f32(r.v[l + 1]);
  } else {
    const Philox4 r = philox4x32_10((offset >> 2) + i, seed);
    u1 = philox_open_f64(r.v[0], r.v[1]);
    u2 = philox_uniform_f64(r.v[2], r.v[3]);
  }
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}


// Note [Uniform draws stay below high]
// low + (high - low) * u with u < 1 is below high in exact arithmetic, but rounding it to the output type can
// land on high itself (float16 near 1, or float32 on [0, 3)). Both kernels pass their rounded value through
// uniform_below_high, which replaces such a value by the largest value of T below high.
template <class T>
ICCRT_HD inline double uniform_as_double(T v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return static_cast<double>(static_cast<float>(v));
  } else {
    return static_cast<double>(v);
  }
}

template <class T>
ICCRT_HD inline T uniform_below_high(T r, double low, double high) {
  if (!(high > low) || !(uniform_as_double(r) >= high)) return r;
  if constexpr (std::is_same_v<T, double>) {
    return nextafter(high, -HUGE_VAL);
  } else if constexpr (std::is_same_v<T, float>) {
    const float h = static_cast<float>(high);
    return static_cast<double>(h) >= high ? nextafterf(h, -HUGE_VALF) : h;
  } else {
    T h(static_cast<float>(high));
    if (uniform_as_double(h) < high) return h;
    // Sign-magnitude 16-bit floats: one step toward -infinity.
    const uint16_t b = h.bits;
    return T::from_bits((b & 0x7fffu) == 0 ? 0x8001u : (b & 0x8000u) ? b + 1 : b - 1);
  }
}

}  // namespace iccrt::kernels
