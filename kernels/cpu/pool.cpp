// 2-d max pooling over [planes, h, w], with the index of each window's max for the backward.
//
// Note [Max pool ties and NaN]: as PyTorch's CPU kernel, the first element of a window (row-major) starts as the
// max and a later one replaces it when it is strictly greater or NaN, so ties keep the first position and a NaN
// wins (the last NaN of the window). A window lying wholly in the padding (possible with dilation, e.g. h = 1,
// kernel 2, padding 1, dilation 2) has no max: its output is -inf and its index -1, which the backward skips.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "iccrt/core/dtype.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cpu/parallel.hpp"

namespace iccrt::kernels::cpu {
namespace {

// Kernel taps t with start + t * dil in [0, n): [lo, hi).
inline void taps(int64_t start, int64_t dil, int64_t k, int64_t n, int64_t& lo, int64_t& hi) {
  lo = start >= 0 ? 0 : (-start + dil - 1) / dil;
  hi = n - 1 - start < 0 ? 0 : std::min(k, (n - 1 - start) / dil + 1);
  lo = std::min(lo, hi);
}

template <class T>
void forward_typed(const PoolArgs& a, const T* x, T* out, int64_t* indices) {
  using C = opmath_t<T>;
  const int64_t rows = a.planes * a.oh;  // one output row per work item
  const int64_t grain = std::max<int64_t>(1, detail::kParallelGrain / std::max<int64_t>(a.ow * a.kh * a.kw, 1));
  detail::parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t plane = r / a.oh, oy = r % a.oh;
      const T* xp = x + plane * a.h * a.w;
      const int64_t y0 = oy * a.stride_h - a.pad_h;
      int64_t ky0, ky1;
      taps(y0, a.dil_h, a.kh, a.h, ky0, ky1);
      for (int64_t ox = 0; ox < a.ow; ++ox) {
        const int64_t x0 = ox * a.stride_w - a.pad_w;
        int64_t kx0, kx1;
        taps(x0, a.dil_w, a.kw, a.w, kx0, kx1);
        C best = -std::numeric_limits<C>::infinity();
        int64_t best_at = -1;
        for (int64_t ky = ky0; ky < ky1; ++ky) {
          const int64_t iy = y0 + ky * a.dil_h;
          for (int64_t kx = kx0; kx < kx1; ++kx) {
            const int64_t at = iy * a.w + x0 + kx * a.dil_w;
            const C v = static_cast<C>(xp[at]);
            if (best_at < 0 || v > best || std::isnan(v)) {  // Note [Max pool ties and NaN]
              best = v;
              best_at = at;
            }
          }
        }
        const int64_t o = r * a.ow + ox;
        out[o] = static_cast<T>(best);
        indices[o] = best_at;
      }
    }
  });
}

template <class T>
void backward_typed(const PoolArgs& a, const T* grad_out, const int64_t* indices, opmath_t<T>* grad_in) {
  using C = opmath_t<T>;
  const int64_t per_in = a.h * a.w, per_out = a.oh * a.ow;
  const int64_t grain = std::max<int64_t>(1, detail::kParallelGrain / std::max<int64_t>(per_out, 1));
  // Windows overlap within a plane, never across planes: one plane per work item keeps the adds race-free.
  detail::parallel_for(a.planes, grain, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      C* gi = grad_in + p * per_in;
      const T* go = grad_out + p * per_out;
      const int64_t* idx = indices + p * per_out;
      for (int64_t o = 0; o < per_out; ++o)
        if (idx[o] >= 0) gi[idx[o]] += static_cast<C>(go[o]);
    }
  });
}

}  // namespace

void max_pool2d_forward(const PoolArgs& a, const void* x, void* out, int64_t* indices) {
  if (a.planes <= 0 || a.oh <= 0 || a.ow <= 0) return;
  dispatch_floating(a.dtype, "max_pool2d_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    forward_typed(a, static_cast<const T*>(x), static_cast<T*>(out), indices);
  });
}

void max_pool2d_backward(const PoolArgs& a, const void* grad_out, const int64_t* indices, void* grad_in) {
  if (a.planes <= 0 || a.oh <= 0 || a.ow <= 0) return;
  dispatch_floating(a.dtype, "max_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backward_typed(a, static_cast<const T*>(grad_out), indices, static_cast<opmath_t<T>*>(grad_in));
  });
}

}  // namespace iccrt::kernels::cpu
