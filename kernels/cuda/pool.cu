// 2-d max pooling over x viewed as [planes, h, w]: the forward writes each window's maximum and its flat input
// position h * w_in + w (int64); the backward scatters grad_out back to those positions with atomicAdd into a
// caller-zeroed buffer of the stat dtype (windows overlap when stride < kernel, so several outputs may hit one
// input).
//
// Window rule, as in PyTorch: positions outside the input (padding, or the ragged last window of ceil_mode) are
// skipped; the maximum starts at -inf with the index of the window's first valid position, and a value replaces
// it when it is greater or NaN (NaN propagates). As in kernels/cpu/pool.cpp (Note [Max pool ties and NaN]), a
// window lying wholly in the padding (possible with dilation) gives -inf and index -1.
#include "kernels/cuda/nn_common.cuh"
#include "kernels/cuda/nn_kernels.hpp"

namespace iccrt::kernels::cuda {
namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void __launch_bounds__(kThreads)
    max_pool_fwd_kernel(PoolArgs a, const T* __restrict__ x, T* __restrict__ out, int64_t* __restrict__ indices) {
  using A = opmath_t<T>;
  const int64_t total = a.planes * a.oh * a.ow;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const int64_t ox = o % a.ow;
    const int64_t oy = (o / a.ow) % a.oh;
    const int64_t plane = o / (a.ow * a.oh);
    const T* src = x + plane * a.h * a.w;
    const int64_t y0 = oy * a.stride_h - a.pad_h, x0 = ox * a.stride_w - a.pad_w;
    A best = detail::neg_inf<A>();
    int64_t best_at = -1;
    for (int64_t ky = 0; ky < a.kh; ++ky) {
      const int64_t iy = y0 + ky * a.dil_h;
      if (iy < 0 || iy >= a.h) continue;
      for (int64_t kx = 0; kx < a.kw; ++kx) {
        const int64_t ix = x0 + kx * a.dil_w;
        if (ix < 0 || ix >= a.w) continue;
        const int64_t at = iy * a.w + ix;
        const A v = detail::load(src, at);
        if (best_at < 0) best_at = at;
        if (v > best || v != v) {
          best = v;
          best_at = at;
        }
      }
    }
    detail::store(out, o, best);
    indices[o] = best_at;  // -1: a window wholly in the padding (output -inf), skipped by the backward
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    max_pool_bwd_kernel(PoolArgs a, const T* __restrict__ grad_out, const int64_t* __restrict__ indices,
                        opmath_t<T>* __restrict__ grad_in) {
  const int64_t total = a.planes * a.oh * a.ow;
  const int64_t plane_out = a.oh * a.ow, plane_in = a.h * a.w;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const int64_t at = indices[o];
    if (at < 0 || at >= plane_in) continue;  // not one of ours: never write outside the plane
    atomicAdd(grad_in + (o / plane_out) * plane_in + at, detail::load(grad_out, o));
  }
}

}  // namespace

void max_pool2d_forward(const PoolArgs& a, const void* x, void* out, int64_t* indices, Stream stream) {
  const char* name = "max_pool2d";
  const int64_t total = a.planes * a.oh * a.ow;
  if (total == 0) return;
  const cudaStream_t s = detail::as_stream(stream);
  dispatch_floating(a.dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::launch(name, max_pool_fwd_kernel<T>, detail::grid_size(total, kThreads), kThreads, 0, s, a,
                   static_cast<const T*>(x), static_cast<T*>(out), indices);
  });
}

void max_pool2d_backward(const PoolArgs& a, const void* grad_out, const int64_t* indices, void* grad_in,
                         Stream stream) {
  const char* name = "max_pool2d_backward";
  const int64_t total = a.planes * a.oh * a.ow;
  if (total == 0 || a.h * a.w == 0) return;
  const cudaStream_t s = detail::as_stream(stream);
  dispatch_floating(a.dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::launch(name, max_pool_bwd_kernel<T>, detail::grid_size(total, kThreads), kThreads, 0, s, a,
                   static_cast<const T*>(grad_out), indices, static_cast<opmath_t<T>*>(grad_in));
  });
}

}  // namespace iccrt::kernels::cuda
