#pragma once
// float32 exp, log and tanh on 8-lane vectors (GCC/Clang vector extensions: AVX registers where the target
// has them, pairs of SSE registers otherwise). libm's expf/logf/tanhf are scalar calls, 5-10x slower per
// element on AVX2, and scalar code with selects does not survive the optimiser as branch-free code, so these
// are written on vectors directly. Accuracy is that of the Cephes polynomials they follow: within 1 ulp of the
// correctly rounded result over the whole float range (checked exhaustively against double), with exact
// handling of 0, inf, NaN and subnormals. float64 keeps libm.
#include <cstdint>
#include <cstring>

namespace iccrt::kernels::cpu::detail {

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

inline v8f splat(float x) { return v8f{x, x, x, x, x, x, x, x}; }
// Lane-wise select; masks are the all-ones / all-zeros int lanes that vector comparisons produce.
inline v8f select(v8i mask, v8f a, v8f b) { return (v8f)((mask & (v8i)a) | (~mask & (v8i)b)); }

// 2^n for n in [-126, 127].
inline v8f pow2(v8i n) { return (v8f)((n + 127) << 23); }

inline v8f exp_v(v8f x) {
  // Beyond these exp is inf or 0 in float; clamping keeps the exponent arithmetic in range. NaN fails both
  // comparisons and flows through the polynomial to a NaN result.
  v8f c = select(x > splat(88.8f), splat(88.8f), x);
  c = select(c < splat(-104.0f), splat(-104.0f), c);
  // c = n ln2 + r with |r| <= ln2/2; ln2 is split in two (Cody-Waite) so that n ln2 is exact enough.
  const v8f magic = splat(12582912.0f);  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const v8f n = (c * splat(1.44269504088896341f) + magic) - magic;
  v8f r = c - n * splat(0.693359375f);
  r = r - n * splat(-2.12194440e-4f);
  v8f p = splat(1.9875691500e-4f);
  p = p * r + splat(1.3981999507e-3f);
  p = p * r + splat(8.3334519073e-3f);
  p = p * r + splat(4.1665795894e-2f);
  p = p * r + splat(1.6666665459e-1f);
  p = p * r + splat(5.0000001201e-1f);
  p = p * r * r + r + splat(1.0f);
  // Scale by 2^n in two steps, each a normal power of two, so that results near overflow and in the
  // subnormal range round once and correctly (n ranges over [-150, 128]). NaN lanes give garbage n here and
  // stay NaN through p.
  const v8i ni = __builtin_convertvector(n, v8i);
  const v8i n1 = ni >> 1, n2 = ni - n1;
  return p * pow2(n1) * pow2(n2);
}

inline v8f log_v(v8f x) {
  // Subnormals are scaled into the normal range first so that the exponent field tells the whole story.
  const v8i tiny = x < splat(1.17549435e-38f);
  const v8f xs = select(tiny, x * splat(8388608.0f), x);  // * 2^23
  const v8i bits = (v8i)xs;
  v8i e = ((bits >> 23) & 0xff) - 126 - (tiny & 23);
  const v8f m = (v8f)((bits & 0x007fffff) | 0x3f000000);  // xs = m * 2^e, m in [0.5, 1)
  // Fold m into [sqrt(1/2), sqrt(2)) and take log(1 + f) with f = m - 1 small.
  const v8i low = m < splat(0.707106781186547524f);
  e = e + low;  // low is -1 where true
  const v8f f = select(low, m + m, m) - splat(1.0f);
  const v8f z = f * f;
  v8f y = splat(7.0376836292e-2f);
  y = y * f - splat(1.1514610310e-1f);
  y = y * f + splat(1.1676998740e-1f);
  y = y * f - splat(1.2420140846e-1f);
  y = y * f + splat(1.4249322787e-1f);
  y = y * f - splat(1.6668057665e-1f);
  y = y * f + splat(2.0000714765e-1f);
  y = y * f - splat(2.4999993993e-1f);
  y = y * f + splat(3.3333331174e-1f);
  const v8f fe = __builtin_convertvector(e, v8f);
  y = y * f * z + fe * splat(-2.12194440e-4f) - splat(0.5f) * z;
  v8f r = f + y + fe * splat(0.693359375f);
  // Special cases last: log(0) = -inf, log(x < 0) = NaN, log(inf) = inf, log(NaN) = NaN.
  r = select(x == splat(0.0f), splat(-__builtin_inff()), r);
  r = select(x < splat(0.0f), splat(__builtin_nanf("")), r);
  r = select(x == splat(__builtin_inff()), x, r);
  return select(x != x, x, r);
}

inline v8f tanh_v(v8f x) {
  const v8f ax = select(x < splat(0.0f), -x, x);
  // Small |x|: odd polynomial (1 - 2/(e^2x + 1) would cancel).
  const v8f z = x * x;
  v8f p = splat(-5.70498872745e-3f);
  p = p * z + splat(2.06390887954e-2f);
  p = p * z - splat(5.37397155531e-2f);
  p = p * z + splat(1.33314422036e-1f);
  p = p * z - splat(3.33332819422e-1f);
  const v8f small = p * z * x + x;
  // Otherwise from exp; exp overflowing to inf gives exactly 1.
  const v8f big = splat(1.0f) - splat(2.0f) / (exp_v(ax + ax) + splat(1.0f));
  const v8f signed_big = select(x < splat(0.0f), -big, big);
  return select(ax < splat(0.625f), small, select(x != x, x, signed_big));
}

// exp of a non-positive argument only, so neither branch can overflow.
inline v8f sigmoid_v(v8f x) {
  const v8f e = exp_v(select(x < splat(0.0f), x, -x));
  const v8f r = splat(1.0f) / (splat(1.0f) + e);
  return select(x >= splat(0.0f), r, e * r);
}

// Applies the vector function f to n floats: whole vectors, then the tail through one zero-padded vector.
template <class F>
void apply_vec(const float* in, float* out, int64_t n, const F& f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    v8f x;
    std::memcpy(&x, in + i, sizeof(x));
    const v8f y = f(x);
    std::memcpy(out + i, &y, sizeof(y));
  }
  if (i < n) {
    v8f x = {};
    std::memcpy(&x, in + i, static_cast<size_t>(n - i) * sizeof(float));
    const v8f y = f(x);
    std::memcpy(out + i, &y, static_cast<size_t>(n - i) * sizeof(float));
  }
}

// The same for one value (strided and broadcast operands), so that every layout gives the same bits.
template <class F>
float apply_one(float x, const F& f) {
  return f(splat(x))[0];
}

}  // namespace iccrt::kernels::cpu::detail
