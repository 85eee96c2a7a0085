#pragma once
// Row helpers shared by the model kernels (softmax.cpp, norm.cpp, cross_entropy.cpp): reductions over one
// contiguous row and the row drivers that hand each kernel float rows for float16/bfloat16 data.
//
// Note [Row sums in double lanes]
// Strict IEEE order keeps the compiler from vectorising a float sum, and one float accumulator over a
// 50k-wide row (a GPT vocabulary) loses about 1e-4 relative. So float rows are read 8 lanes at a time and
// summed in 8 double lanes: as fast as the loads, and exact enough that the statistics (mean, rstd, lse) are
// the float rounding of the true value. float64 rows use four independent accumulators.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/half_block.hpp"
#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/vec_math.hpp"

namespace iccrt::kernels::cpu::detail {

typedef float v4f __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));

inline v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store8(float* p, v8f v) { std::memcpy(p, &v, sizeof(v)); }

// Eight double lanes as two AVX registers (a single 64-byte vector type would change the ABI without AVX-512).
struct Lanes8d {
  v4d lo = {}, hi = {};
  static v4d low(v8f v) { return __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3), v4d); }
  static v4d high(v8f v) { return __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), v4d); }
  void add(v8f v) {
    lo += low(v);
    hi += high(v);
  }
  void add_product(v8f a, v8f b) {
    lo += low(a) * low(b);
    hi += high(a) * high(b);
  }
  void add_sq_dev(v8f a, double c) {
    const v4d cv = {c, c, c, c};
    const v4d dl = low(a) - cv, dh = high(a) - cv;
    lo += dl * dl;
    hi += dh * dh;
  }
  double sum() const { return ((lo[0] + hi[0]) + (lo[1] + hi[1])) + ((lo[2] + hi[2]) + (lo[3] + hi[3])); }
};

// sum x[i]
inline double row_sum(const float* x, int64_t n) {
  Lanes8d acc;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc.add(load8(x + i));
  double s = acc.sum();
  for (; i < n; ++i) s += x[i];
  return s;
}
inline double row_sum(const double* x, int64_t n) {
  double a[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) a[k] += x[i + k];
  double s = (a[0] + a[1]) + (a[2] + a[3]);
  for (; i < n; ++i) s += x[i];
  return s;
}

// sum x[i] * y[i]
inline double row_dot(const float* x, const float* y, int64_t n) {
  Lanes8d acc;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc.add_product(load8(x + i), load8(y + i));
  double s = acc.sum();
  for (; i < n; ++i) s += static_cast<double>(x[i]) * y[i];
  return s;
}
inline double row_dot(const double* x, const double* y, int64_t n) {
  double a[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) a[k] += x[i + k] * y[i + k];
  double s = (a[0] + a[1]) + (a[2] + a[3]);
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

// sum y[i] and sum x[i] * y[i] in one pass
inline void row_sum_dot(const float* x, const float* y, int64_t n, double& sum_y, double& dot) {
  Lanes8d acc_s, acc_d;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v8f yv = load8(y + i);
    acc_s.add(yv);
    acc_d.add_product(load8(x + i), yv);
  }
  sum_y = acc_s.sum();
  dot = acc_d.sum();
  for (; i < n; ++i) {
    sum_y += y[i];
    dot += static_cast<double>(x[i]) * y[i];
  }
}
inline void row_sum_dot(const double* x, const double* y, int64_t n, double& sum_y, double& dot) {
  sum_y = row_sum(y, n);
  dot = row_dot(x, y, n);
}

// sum (x[i] - c)^2, in double
inline double row_sq_dev(const float* x, double c, int64_t n) {
  Lanes8d acc;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc.add_sq_dev(load8(x + i), c);
  double s = acc.sum();
  for (; i < n; ++i) s += (x[i] - c) * (x[i] - c);
  return s;
}
inline double row_sq_dev(const double* x, double c, int64_t n) {
  double a[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) a[k] += (x[i + k] - c) * (x[i + k] - c);
  double s = (a[0] + a[1]) + (a[2] + a[3]);
  for (; i < n; ++i) s += (x[i] - c) * (x[i] - c);
  return s;
}

// max x[i], ignoring NaN (a NaN in the row still reaches every output through the exp sum that follows);
// -inf for an empty row.
inline float row_max(const float* x, int64_t n) {
  float m = -__builtin_inff();
  int64_t i = 0;
  if (n >= 8) {
    v8f acc = splat(-__builtin_inff());
    for (; i + 8 <= n; i += 8) {
      const v8f v = load8(x + i);
      acc = select(v > acc, v, acc);
    }
    for (int k = 0; k < 8; ++k) m = acc[k] > m ? acc[k] : m;
  }
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}
inline double row_max(const double* x, int64_t n) {
  double m = -HUGE_VAL;
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// y[i] = exp(x[i] - c) (when kStore) and returns sum exp(x[i] - c). The tail goes through one zero-padded
// vector, so every element gets the same bits whatever its position.
template <bool kStore>
double row_exp_sum(const float* x, float c, float* y, int64_t n) {
  Lanes8d acc;
  const v8f cv = splat(c);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v8f e = exp_v(load8(x + i) - cv);
    if constexpr (kStore) store8(y + i, e);
    acc.add(e);
  }
  double s = acc.sum();
  if (i < n) {
    v8f v = {};
    std::memcpy(&v, x + i, static_cast<size_t>(n - i) * sizeof(float));
    const v8f e = exp_v(v - cv);
    for (int64_t k = 0; k < n - i; ++k) {
      if constexpr (kStore) y[i + k] = e[k];
      s += e[k];
    }
  }
  return s;
}
template <bool kStore>
double row_exp_sum(const double* x, double c, double* y, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = std::exp(x[i] - c);
    if constexpr (kStore) y[i] = e;
    s += e;
  }
  return s;
}

// y[i] = exp(x[i]) (y may be x)
inline void row_exp(const float* x, float* y, int64_t n) {
  apply_vec(x, y, n, [](v8f v) { return exp_v(v); });
}
inline void row_exp(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

// Rows of T as rows of opmath_t<T>: the row itself for float / double, a converted copy in `buf` for
// float16 / bfloat16.
template <class T>
const opmath_t<T>* load_row(const T* p, int64_t n, opmath_t<T>* buf) {
  if constexpr (is_half_like<T>) {
    to_float(p, buf, n);
    return buf;
  } else {
    return p;
  }
}
// Where a kernel writes an output row: into `dst` directly, or into `buf` for 16-bit types (store_row then
// converts it).
template <class T>
opmath_t<T>* out_row(T* dst, opmath_t<T>* buf) {
  if constexpr (is_half_like<T>) {
    return buf;
  } else {
    return dst;
  }
}
template <class T>
void store_row(const opmath_t<T>* src, T* dst, int64_t n) {
  if constexpr (is_half_like<T>) from_float(src, dst, n);
}

// Runs f(ins, out, n) for every row along the middle dim of [outer, n, inner] arrays: K inputs and one output
// of type T, with rows handed over as contiguous opmath_t<T> arrays. With inner == 1 the rows are the data
// itself (converted for 16-bit types). Otherwise a tile of up to kTile neighbouring columns is gathered into
// row buffers (each load reads kTile contiguous elements), processed, and scattered back. Threads split the
// rows (or tiles); `work_per_elem` scales the grain (a few for an exp, 1 for a multiply-add).
template <class T, int K, class F>
void for_each_row(const std::array<const T*, K>& in, T* out, int64_t outer, int64_t n, int64_t inner,
                  int64_t work_per_elem, const F& f) {
  using M = opmath_t<T>;
  if (outer <= 0 || n <= 0 || inner <= 0) return;
  const int64_t elem_grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(work_per_elem, 1));
  if (inner == 1) {
    parallel_for(outer, std::max<int64_t>(1, elem_grain / n), [&](int64_t b, int64_t e) {
      std::vector<M> buf(is_half_like<T> ? static_cast<size_t>((K + 1) * n) : 0);
      for (int64_t r = b; r < e; ++r) {
        std::array<const M*, K> rows;
        for (int k = 0; k < K; ++k) rows[k] = load_row(in[k] + r * n, n, buf.data() + k * n);
        M* o = out_row(out + r * n, buf.data() + K * n);
        f(rows, o, n);
        store_row(o, out + r * n, n);
      }
    });
    return;
  }
  const int64_t tile = std::clamp<int64_t>((int64_t{1} << 16) / n, 1, 16);
  const int64_t tiles = (inner + tile - 1) / tile;
  parallel_for(outer * tiles, std::max<int64_t>(1, elem_grain / (n * tile)), [&](int64_t b, int64_t e) {
    std::vector<M> buf(static_cast<size_t>((K + 1) * tile * n));
    M* obuf = buf.data() + K * tile * n;
    for (int64_t item = b; item < e; ++item) {
      const int64_t o = item / tiles, j0 = (item % tiles) * tile, w = std::min(tile, inner - j0);
      const int64_t base = o * n * inner + j0;
      for (int k = 0; k < K; ++k) {
        M* kb = buf.data() + k * tile * n;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t t = 0; t < w; ++t) kb[t * n + i] = static_cast<M>(in[k][base + i * inner + t]);
      }
      for (int64_t t = 0; t < w; ++t) {
        std::array<const M*, K> rows;
        for (int k = 0; k < K; ++k) rows[k] = buf.data() + (k * tile + t) * n;
        f(rows, obuf + t * n, n);
      }
      for (int64_t i = 0; i < n; ++i)
        for (int64_t t = 0; t < w; ++t) out[base + i * inner + t] = static_cast<T>(obuf[t * n + i]);
    }
  });
}

}  // namespace iccrt::kernels::cpu::detail
