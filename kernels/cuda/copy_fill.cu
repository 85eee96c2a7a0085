// Data movement and initialisation: copy (any dtype to any dtype, any strides), fill, arange.
#include <cstring>

#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/elementwise.cuh"

namespace iccrt::kernels::cuda {
namespace {

template <class To, class From>
struct CastFn {
  __device__ __forceinline__ To operator()(From x) const { return detail::cast<To>(x); }
};

template <class B>
struct FillFn {
  B bits;
  __device__ __forceinline__ B operator()() const { return bits; }
};

// Whether every operand is one dense run of memory (after dropping size-1 dims and merging dims).
bool dense(const ElementwiseArgs& a) {
  const detail::Geometry g = detail::coalesce(a);
  if (g.ndim == 0) return true;
  if (g.ndim > 1) return false;
  for (int k = 0; k < a.nargs; ++k)
    if (g.strides[k][0] != 1) return false;
  return true;
}

template <class T>
__global__ void arange_kernel(T* out, int64_t n, double start_d, double step_d, int64_t start_i, int64_t step_i) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    // Floating dtypes compute in double, integer ones in int64: both as the CPU kernel does.
    if constexpr (detail::is_float_v<T>) out[i] = detail::cast<T>(start_d + static_cast<double>(i) * step_d);
    else out[i] = detail::cast<T>(start_i + i * step_i);
  }
}

}  // namespace

void copy(const ElementwiseArgs& a, Stream stream) {
  ICCRT_ASSERT(a.nargs == 2, "copy expects (out, x)");
  if (a.numel <= 0) return;
  const cudaStream_t s = detail::as_stream(stream);
  if (a.dtype[0] == a.dtype[1]) {
    if (dense(a)) {
      ICCRT_CUDA_CHECK(cudaMemcpyAsync(a.data[0], a.data[1], a.numel * itemsize(a.dtype[0]),
                                       cudaMemcpyDeviceToDevice, s),
                       "copy");
      return;
    }
    detail::dispatch_bits(a.dtype[0], [&](auto tag) {
      using B = typename decltype(tag)::type;
      detail::launch_elementwise<B, B>(a, CastFn<B, B>{}, s, "copy");
    });
    return;
  }
  dispatch(a.dtype[0], [&](auto to_tag) {
    using To = typename decltype(to_tag)::type;
    dispatch(a.dtype[1], [&](auto from_tag) {
      using From = typename decltype(from_tag)::type;
      if constexpr (!std::is_same_v<To, From>) detail::launch_elementwise<To, From>(a, CastFn<To, From>{}, s, "copy");
    });
  });
}

void fill(const ElementwiseArgs& a, Scalar v, Stream stream) {
  ICCRT_ASSERT(a.nargs == 1, "fill expects (out)");
  if (a.numel <= 0) return;
  const cudaStream_t s = detail::as_stream(stream);
  // The value's bits, converted on the host once.
  uint64_t bits = 0;
  dispatch(a.dtype[0], [&](auto tag) {
    using T = typename decltype(tag)::type;
    T value;
    if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) value = T(v.to<float>());
    else value = v.to<T>();
    std::memcpy(&bits, &value, sizeof(T));
  });
  const int64_t size = itemsize(a.dtype[0]);
  // All bytes equal (zeros, most often): a memset is the fastest fill there is.
  bool same_bytes = true;
  for (int64_t b = 1; b < size; ++b) same_bytes &= ((bits >> (8 * b)) & 0xff) == (bits & 0xff);
  if (same_bytes && dense(a)) {
    ICCRT_CUDA_CHECK(cudaMemsetAsync(a.data[0], static_cast<int>(bits & 0xff), a.numel * size, s), "fill");
    return;
  }
  detail::dispatch_bits(a.dtype[0], [&](auto tag) {
    using B = typename decltype(tag)::type;
    detail::launch_elementwise<B>(a, FillFn<B>{static_cast<B>(bits)}, s, "fill");
  });
}

void arange(void* out, DType dtype, int64_t n, Scalar start, Scalar step, Stream stream) {
  if (n <= 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kThreads = 256;
    detail::launch("arange", arange_kernel<T>, detail::grid_size(n, kThreads), kThreads, 0,
                   detail::as_stream(stream), static_cast<T*>(out), n, start.to<double>(), step.to<double>(),
                   start.to<int64_t>(), step.to<int64_t>());
  });
}

}  // namespace iccrt::kernels::cuda
