#pragma once
// Private to kernels/cuda: error checks, launch bookkeeping and the index math every kernel file shares.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "iccrt/core/error.hpp"
#include "kernels/common/kernel_args.hpp"

namespace iccrt::kernels::cuda::detail {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* expr, const std::string& what) {
  throw ::iccrt::Error(::iccrt::detail::str("CUDA error in ", what, ": ", cudaGetErrorName(err), " (",
                                            cudaGetErrorString(err), ") from ", expr));
}

}  // namespace iccrt::kernels::cuda::detail

// Checks a cudaError_t; on failure raises iccrt::Error naming the op (the variadic part) and the CUDA error.
// The error is read back with cudaGetLastError so that a non-sticky error is not reported a second time by the
// next, unrelated launch check.
#define ICCRT_CUDA_CHECK(expr, ...)                                                                         \
  do {                                                                                                      \
    const cudaError_t iccrt_cuda_err_ = (expr);                                                             \
    if (iccrt_cuda_err_ != cudaSuccess) {                                                                   \
      (void)cudaGetLastError();                                                                             \
      ::iccrt::kernels::cuda::detail::throw_cuda_error(iccrt_cuda_err_, #expr, ::iccrt::detail::str(__VA_ARGS__)); \
    }                                                                                                       \
  } while (0)

namespace iccrt::kernels::cuda::detail {

inline cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

// Launches `kernel` and checks the launch (bad configuration, missing image for this GPU, ...). Errors raised
// while the kernel runs surface at the next synchronising call, as usual for CUDA.
template <class... KArgs, class... Args>
void launch(const char* name, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
            Args&&... args) {
  kernel<<<grid, block, smem, stream>>>(std::forward<Args>(args)...);
  ICCRT_CUDA_CHECK(cudaGetLastError(), "launching kernel ", name);
}

// Streaming multiprocessors of the current device, cached: grid sizes are a multiple of it.
inline int sm_count() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cache[kMaxDevices];  // 0 until first asked; racing threads store the same value
  int dev = 0;
  ICCRT_CUDA_CHECK(cudaGetDevice(&dev), "cudaGetDevice");
  if (dev < kMaxDevices) {
    const int cached = cache[dev].load(std::memory_order_relaxed);
    if (cached > 0) return cached;
  }
  int n = 0;
  ICCRT_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev), "querying the SM count");
  if (dev < kMaxDevices) cache[dev].store(n, std::memory_order_relaxed);
  return n;
}

// Blocks for a grid-stride loop over `items` work items: enough to fill every SM several times over, no more
// (extra blocks only add scheduling overhead once the memory system is saturated).
inline unsigned grid_size(int64_t items, int threads, int blocks_per_sm = 16) {
  const int64_t want = (items + threads - 1) / threads;
  const int64_t cap = static_cast<int64_t>(sm_count()) * blocks_per_sm;
  return static_cast<unsigned>(want < 1 ? 1 : (want < cap ? want : cap));
}

template <class T, int N>
struct Array {
  T v[N > 0 ? N : 1];
  __host__ __device__ T& operator[](int i) { return v[i]; }
  __host__ __device__ const T& operator[](int i) const { return v[i]; }
};

// Quotient and remainder by a divisor fixed at launch time. 32-bit indices use the multiply-high trick
// (Granlund & Montgomery, "Division by invariant integers using multiplication"): a hardware integer division
// is a long instruction sequence on GPUs and runs once per dimension per element in strided kernels.
template <class index_t>
struct IntDivider {
  IntDivider() = default;
  explicit IntDivider(index_t d) : divisor(d) {}
  __device__ __forceinline__ index_t div(index_t n) const { return n / divisor; }
  index_t divisor = 1;
};

template <>
struct IntDivider<uint32_t> {
  IntDivider() = default;
  // Valid for 1 <= d <= INT32_MAX and dividends n <= INT32_MAX (the 32-bit path guarantees both).
  explicit IntDivider(uint32_t d) : divisor(d) {
    for (shift = 0; shift < 32; ++shift)
      if ((1u << shift) >= divisor) break;
    const uint64_t one = 1;
    magic = static_cast<uint32_t>(((one << 32) * ((one << shift) - divisor)) / divisor + 1);
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const { return (__umulhi(n, magic) + n) >> shift; }
  uint32_t divisor = 1, magic = 1, shift = 0;
};

// Maps a linear row-major index to the element offsets of N operands that share one shape. Dims are stored
// innermost first; the outermost one needs no division (its index is what remains of the linear index).
template <int N, class index_t>
struct OffsetCalc {
  using offset_t = std::make_signed_t<index_t>;
  int ndim = 0;
  IntDivider<index_t> size[kMaxDims];
  offset_t stride[kMaxDims][N > 0 ? N : 1];

  __device__ __forceinline__ Array<offset_t, N> get(index_t linear) const {
    Array<offset_t, N> off;
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
#pragma unroll
    for (int d = 0; d < kMaxDims; ++d) {
      if (d == ndim) break;
      index_t idx;
      if (d == ndim - 1) {
        idx = linear;
      } else {
        const index_t q = size[d].div(linear);
        idx = linear - q * size[d].divisor;
        linear = q;
      }
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += static_cast<offset_t>(idx) * stride[d][k];
    }
    return off;
  }
};

// shape: outermost first (as in kernel_args.hpp); strides[k]: operand k's strides in the same order.
template <int N, class index_t>
OffsetCalc<N, index_t> make_offset_calc(int ndim, const int64_t* shape, const int64_t* const* strides) {
  using offset_t = typename OffsetCalc<N, index_t>::offset_t;
  OffsetCalc<N, index_t> c;
  c.ndim = ndim;
  for (int d = 0; d < ndim; ++d) {
    const int src = ndim - 1 - d;
    c.size[d] = IntDivider<index_t>(static_cast<index_t>(shape[src] > 0 ? shape[src] : 1));
    for (int k = 0; k < N; ++k) c.stride[d][k] = static_cast<offset_t>(strides[k][src]);
  }
  return c;
}

// Whether every index and offset of this geometry fits the 32-bit path (signed, so negative strides work).
inline bool fits_int32(int64_t numel, int ndim, const int64_t* shape, const int64_t* const* strides, int n) {
  constexpr int64_t kMax = INT32_MAX;
  if (numel > kMax) return false;
  for (int k = 0; k < n; ++k) {
    int64_t extent = 0;
    for (int d = 0; d < ndim; ++d) {
      const int64_t s = strides[k][d] < 0 ? -strides[k][d] : strides[k][d];
      extent += (shape[d] - 1) * s;
    }
    if (extent > kMax) return false;
  }
  return true;
}

inline int64_t next_pow2(int64_t x) {
  int64_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

}  // namespace iccrt::kernels::cuda::detail
