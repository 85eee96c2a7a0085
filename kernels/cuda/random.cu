// Random fills from the counter-based Philox generator (kernels/common/philox.hpp). Value i depends only on
// (seed, offset, i), so the values match the CPU kernel's for the same generator state.
//
// philox_uniform_at / philox_normal_at each run one 10-round Philox block, which holds 4 words, and use 1 to 4
// of them. Calling them per value would redo each block up to 4 times, so each thread here runs one block and
// writes every value that block serves, with exactly the arithmetic of philox.hpp (see the word layout there).
// If the offset is not a multiple of 4 (the contract says it is), the per-value functions are used instead.
#include "kernels/common/philox.hpp"
#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/cuda_utils.cuh"
#include "kernels/cuda/numeric.cuh"

namespace iccrt::kernels::cuda {
namespace {

// Values served by one Philox block for each kind of draw.
template <class T>
constexpr int per_block(bool normal) {
  constexpr bool is_double = std::is_same_v<T, double>;
  return normal ? (is_double ? 1 : 2) : (is_double ? 2 : 4);
}

template <class T, bool kNormal>
__global__ void random_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double a, double b) {
  constexpr bool kDouble = std::is_same_v<T, double>;
  constexpr int kPer = per_block<T>(kNormal);
  const int64_t blocks = (n + kPer - 1) / kPer;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < blocks; t += step) {
    const Philox4 r = philox4x32_10((offset >> 2) + static_cast<uint64_t>(t), seed);
    double u[kPer];
    if constexpr (!kNormal && !kDouble) {
#pragma unroll
      for (int j = 0; j < 4; ++j) u[j] = philox_uniform_f32(r.v[j]);
    } else if constexpr (!kNormal && kDouble) {
      u[0] = philox_uniform_f64(r.v[0], r.v[1]);
      u[1] = philox_uniform_f64(r.v[2], r.v[3]);
    } else if constexpr (kNormal && !kDouble) {
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const double u1 = (static_cast<double>(r.v[2 * j] >> 8) + 1.0) * (1.0 / 16777216.0);
        const double u2 = philox_uniform_f32(r.v[2 * j + 1]);
        u[j] = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
      }
    } else {
      const double u1 = philox_open_f64(r.v[0], r.v[1]);
      const double u2 = philox_uniform_f64(r.v[2], r.v[3]);
      u[0] = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    }
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
      const int64_t i = t * kPer + j;
      // uniform: a + (b - a) * u with (a, b) = (low, high); normal: a + b * z with (a, b) = (mean, std)
      if (i < n) {
        out[i] = kNormal ? detail::cast<T>(a + b * u[j])
                         : uniform_below_high(detail::cast<T>(a + (b - a) * u[j]), a, b);  // Note [Uniform draws stay below high]
      }
    }
  }
}

// Fallback for an offset that is not a multiple of 4: the per-value functions, one value per thread.
template <class T, bool kNormal>
__global__ void random_unaligned_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double a, double b) {
  constexpr bool kDouble = std::is_same_v<T, double>;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const double v = kNormal ? a + b * philox_normal_at(seed, offset, i, kDouble)
                             : a + (b - a) * philox_uniform_at(seed, offset, i, kDouble);
    out[i] = kNormal ? detail::cast<T>(v) : uniform_below_high(detail::cast<T>(v), a, b);
  }
}

template <bool kNormal>
void run(const char* name, void* out, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double a, double b,
         Stream stream) {
  if (n <= 0) return;
  dispatch_floating(dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kThreads = 256;
    const cudaStream_t s = detail::as_stream(stream);
    if (offset % 4 == 0) {
      const int64_t blocks = (n + per_block<T>(kNormal) - 1) / per_block<T>(kNormal);
      detail::launch(name, random_kernel<T, kNormal>, detail::grid_size(blocks, kThreads), kThreads, 0, s,
                     static_cast<T*>(out), n, seed, offset, a, b);
    } else {
      detail::launch(name, random_unaligned_kernel<T, kNormal>, detail::grid_size(n, kThreads), kThreads, 0, s,
                     static_cast<T*>(out), n, seed, offset, a, b);
    }
  });
}

}  // namespace

void random_uniform(void* out, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double low, double high,
                    Stream stream) {
  run<false>("random_uniform", out, dtype, n, seed, offset, low, high, stream);
}

void random_normal(void* out, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double mean, double std,
                   Stream stream) {
  run<true>("random_normal", out, dtype, n, seed, offset, mean, std, stream);
}

}  // namespace iccrt::kernels::cuda
