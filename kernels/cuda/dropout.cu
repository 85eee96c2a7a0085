// Dropout with a counter-based mask: element i is kept iff philox_uniform_f32(philox_word(seed, offset, i)) >= p
// (DropoutArgs, kernels/common/nn_args.hpp), so the CPU and CUDA kernels draw the same mask and the backward
// recomputes it instead of storing it. The forward and the backward are the same map (x or grad_out in).
//
// A thread handles the four elements that share one Philox block (one philox4x32_10 call for four words) when
// the offset is block-aligned, which is how generators hand offsets out; otherwise one call per element.
#include "kernels/common/philox.hpp"
#include "kernels/cuda/nn_common.cuh"
#include "kernels/cuda/nn_kernels.hpp"

namespace iccrt::kernels::cuda {
namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void __launch_bounds__(kThreads)
    dropout_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t n, double p, opmath_t<T> scale, uint64_t seed,
                   uint64_t offset) {
  using A = opmath_t<T>;
  const int64_t groups = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const bool aligned = (offset & 3) == 0;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += stride) {
    const int64_t i0 = 4 * g;
    Philox4 words{};
    if (aligned) words = philox4x32_10((offset >> 2) + static_cast<uint64_t>(g), seed);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int64_t i = i0 + k;
      if (i >= n) break;
      const uint32_t w = aligned ? words.v[k] : philox_word(seed, offset, static_cast<uint64_t>(i));
      const bool keep = static_cast<double>(philox_uniform_f32(w)) >= p;  // in double, as the rule says
      detail::store(out, i, keep ? detail::load(in, i) * scale : A(0));
    }
  }
}

void run(const DropoutArgs& a, cudaStream_t s, const char* name) {
  ICCRT_CHECK_VALUE(a.p >= 0.0 && a.p <= 1.0, name, ": expected a probability in [0, 1] but got p = ", a.p);
  if (a.n == 0) return;
  dispatch_floating(a.dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = opmath_t<T>;
    // p == 1 keeps nothing (uniform draws are < 1), so the scale is never applied; 0 avoids an infinity.
    const A scale = a.p < 1.0 ? static_cast<A>(1.0 / (1.0 - a.p)) : A(0);
    const int64_t groups = (a.n + 3) / 4;
    detail::launch(name, dropout_kernel<T>, detail::grid_size(groups, kThreads), kThreads, 0, s,
                   static_cast<const T*>(a.in), static_cast<T*>(a.out), a.n, a.p, scale, a.seed, a.offset);
  });
}

}  // namespace

void dropout_forward(const DropoutArgs& a, Stream stream) { run(a, detail::as_stream(stream), "dropout"); }

void dropout_backward(const DropoutArgs& a, Stream stream) { run(a, detail::as_stream(stream), "dropout_backward"); }

}  // namespace iccrt::kernels::cuda
