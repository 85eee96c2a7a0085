// im2col / col2im for NCHW convolution: the unfolded layout turns a convolution into one GEMM per group
// (src/ops/nn_conv.cpp does the GEMMs). Row (ci, ki, kj) of cols holds, for every output position, the input
// pixel that kernel tap (ki, kj) of channel ci sees there (0 in the padding).
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "iccrt/core/dtype.hpp"
#include "kernels/cpu/half_block.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cpu/parallel.hpp"

namespace iccrt::kernels::cpu {
namespace {

// Output columns ox whose input column ox * stride + first lands inside [0, w): [lo, hi).
void valid_range(int64_t first, int64_t stride, int64_t w, int64_t n_out, int64_t& lo, int64_t& hi) {
  // first + ox * stride >= 0  <=>  ox >= ceil(-first / stride)
  lo = first >= 0 ? 0 : (-first + stride - 1) / stride;
  // first + ox * stride <= w - 1  <=>  ox <= floor((w - 1 - first) / stride)
  hi = w - 1 - first < 0 ? 0 : (w - 1 - first) / stride + 1;
  lo = std::min(lo, n_out);
  hi = std::clamp(hi, lo, n_out);
}

template <class T>
void im2col_typed(const ConvArgs& g, const T* x, T* cols) {
  const int64_t cg = g.c, rows = cg * g.kh * g.kw, plane = g.oh * g.ow;
  const int64_t grain = std::max<int64_t>(1, detail::kParallelGrain / std::max<int64_t>(plane, 1));
  detail::parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t ci = r / (g.kh * g.kw), ki = (r / g.kw) % g.kh, kj = r % g.kw;
      const T* xc = x + ci * g.h * g.w;
      T* out = cols + r * plane;
      const int64_t col0 = kj * g.dil_w - g.pad_w;  // input column of output column 0
      int64_t lo, hi;
      valid_range(col0, g.stride_w, g.w, g.ow, lo, hi);
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        T* o = out + oy * g.ow;
        const int64_t iy = oy * g.stride_h - g.pad_h + ki * g.dil_h;
        if (iy < 0 || iy >= g.h) {
          std::fill(o, o + g.ow, T(0.0f));
          continue;
        }
        const T* xr = xc + iy * g.w;  // input column of output column ox: col0 + ox * stride_w
        std::fill(o, o + lo, T(0.0f));
        if (g.stride_w == 1) {
          std::copy(xr + (col0 + lo), xr + (col0 + hi), o + lo);
        } else {
          for (int64_t ox = lo; ox < hi; ++ox) o[ox] = xr[col0 + ox * g.stride_w];
        }
        std::fill(o + hi, o + g.ow, T(0.0f));
      }
    }
  });
}

// Adds the rows of channel ci back into its plane xc (compute type C, so 16-bit data accumulates in float).
template <class T, class C>
void col2im_channel(const ConvArgs& g, const T* cols, int64_t ci, C* xc) {
  const int64_t plane = g.oh * g.ow;
  for (int64_t ki = 0; ki < g.kh; ++ki) {
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      const T* src = cols + ((ci * g.kh + ki) * g.kw + kj) * plane;
      const int64_t col0 = kj * g.dil_w - g.pad_w;
      int64_t lo, hi;
      valid_range(col0, g.stride_w, g.w, g.ow, lo, hi);
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        const int64_t iy = oy * g.stride_h - g.pad_h + ki * g.dil_h;
        if (iy < 0 || iy >= g.h) continue;
        C* xr = xc + iy * g.w;
        const T* s = src + oy * g.ow;
        for (int64_t ox = lo; ox < hi; ++ox) xr[col0 + ox * g.stride_w] += static_cast<C>(s[ox]);
      }
    }
  }
}

template <class T>
void col2im_typed(const ConvArgs& g, const T* cols, T* x) {
  const int64_t hw = g.h * g.w;
  const int64_t grain = std::max<int64_t>(1, detail::kParallelGrain / std::max<int64_t>(g.kh * g.kw * g.oh * g.ow, 1));
  // One channel per work item: its kh * kw rows write only its own plane, so threads never share an element.
  detail::parallel_for(g.c, grain, [&](int64_t c0, int64_t c1) {
    std::vector<float> acc(detail::is_half_like<T> ? static_cast<size_t>(hw) : 0);
    for (int64_t ci = c0; ci < c1; ++ci) {
      T* xc = x + ci * hw;
      if constexpr (detail::is_half_like<T>) {
        detail::to_float(xc, acc.data(), hw);
        col2im_channel(g, cols, ci, acc.data());
        detail::from_float(acc.data(), xc, hw);
      } else {
        col2im_channel(g, cols, ci, xc);
      }
    }
  });
}

}  // namespace

void im2col(const ConvArgs& g, const void* x, void* cols) {
  if (g.c <= 0 || g.oh <= 0 || g.ow <= 0 || g.kh <= 0 || g.kw <= 0) return;
  dispatch_floating(g.dtype, "im2col", [&](auto tag) {
    using T = typename decltype(tag)::type;
    im2col_typed(g, static_cast<const T*>(x), static_cast<T*>(cols));
  });
}

void col2im(const ConvArgs& g, const void* cols, void* x) {
  if (g.c <= 0 || g.oh <= 0 || g.ow <= 0 || g.kh <= 0 || g.kw <= 0) return;
  dispatch_floating(g.dtype, "col2im", [&](auto tag) {
    using T = typename decltype(tag)::type;
    col2im_typed(g, static_cast<const T*>(cols), static_cast<T*>(x));
  });
}

}  // namespace iccrt::kernels::cpu
