#pragma once
// The elementwise launcher every pointwise op shares (unary, binary, where, copy, fill).
//
// Note [Elementwise launch]
// An op is a functor `Out operator()(In...) const` on storage types; operand 0 of ElementwiseArgs is the output
// and operands 1.. are the inputs, in order. The launcher picks one of three kernels:
//   - contiguous: every operand is dense row-major after merging dims; kVec elements per thread per step with
//     16-byte loads/stores when all pointers are aligned for it (the common case), 1 otherwise;
//   - strided, 32-bit: any strides (0 = broadcast), index math in 32 bits with multiply-high division;
//   - strided, 64-bit: the same for tensors with more than 2^31 elements or offsets.
// Dims of size 1 are dropped and dims contiguous across all operands merged first, so a tensor that is a
// broadcast or transpose along one dim only pays for the dims it really has.
#include <cstdint>
#include <utility>

#include "kernels/cuda/cuda_utils.cuh"
#include "kernels/cuda/numeric.cuh"

namespace iccrt::kernels::cuda::detail {

template <class T, int kVec>
struct alignas(sizeof(T) * kVec) Vec {
  T val[kVec];
};

// A minimal tuple for device code: one leaf per input so that loads of different types can sit side by side.
template <size_t I, class T>
struct Leaf {
  T v;
};
template <class Seq, class... T>
struct Pack;
template <size_t... I, class... T>
struct Pack<std::index_sequence<I...>, T...> : Leaf<I, T>... {};
template <size_t I, class T>
__device__ __forceinline__ T& get(Leaf<I, T>& l) {
  return l.v;
}

template <class... T>
constexpr int max_size() {
  int m = 1;
  ((m = static_cast<int>(sizeof(T)) > m ? static_cast<int>(sizeof(T)) : m), ...);
  return m;
}

// One vector step: kVec consecutive elements starting at element `base` of every operand.
template <int kVec, class F, class Out, class... In, size_t... I>
__device__ __forceinline__ void vec_step(int64_t base, char* out, const Array<const char*, sizeof...(In)>& in,
                                         const F& f, std::index_sequence<I...>) {
  Pack<std::index_sequence<I...>, Vec<In, kVec>...> x;
  ((get<I>(x) = reinterpret_cast<const Vec<In, kVec>*>(in[I])[base / kVec]), ...);
  Vec<Out, kVec> y;
#pragma unroll
  for (int j = 0; j < kVec; ++j) y.val[j] = f(get<I>(x).val[j]...);
  reinterpret_cast<Vec<Out, kVec>*>(out)[base / kVec] = y;
}

template <class F, class Out, class... In, size_t... I>
__device__ __forceinline__ void scalar_step(int64_t i, char* out, const Array<const char*, sizeof...(In)>& in,
                                            const F& f, std::index_sequence<I...>) {
  reinterpret_cast<Out*>(out)[i] = f(reinterpret_cast<const In*>(in[I])[i]...);
}

template <int kVec, class F, class Out, class... In>
__global__ void contiguous_kernel(int64_t n, char* out, Array<const char*, sizeof...(In)> in, F f) {
  using Seq = std::index_sequence_for<In...>;
  const int64_t nvec = n / kVec;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t v = tid; v < nvec; v += step) vec_step<kVec, F, Out, In...>(v * kVec, out, in, f, Seq{});
  const int64_t tail = nvec * kVec + tid;  // fewer than kVec elements are left over
  if (tail < n) scalar_step<F, Out, In...>(tail, out, in, f, Seq{});
}

template <class index_t, class F, class Out, class... In, size_t... I>
__device__ __forceinline__ void strided_step(index_t i, const OffsetCalc<1 + sizeof...(In), index_t>& calc,
                                             const Array<char*, 1 + sizeof...(In)>& ptr, const F& f,
                                             std::index_sequence<I...>) {
  const auto off = calc.get(i);
  reinterpret_cast<Out*>(ptr[0])[off[0]] = f(reinterpret_cast<const In*>(ptr[I + 1])[off[I + 1]]...);
}

template <class index_t, class F, class Out, class... In>
__global__ void strided_kernel(index_t n, OffsetCalc<1 + sizeof...(In), index_t> calc,
                               Array<char*, 1 + sizeof...(In)> ptr, F f) {
  const index_t step = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    strided_step<index_t, F, Out, In...>(i, calc, ptr, f, std::index_sequence_for<In...>{});
  }
}

// The iteration space after dropping size-1 dims and merging dims that are contiguous for every operand.
struct Geometry {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxOperands][kMaxDims] = {};
};

inline Geometry coalesce(const ElementwiseArgs& a) {
  Geometry g;
  for (int d = 0; d < a.ndim; ++d) {
    if (a.shape[d] == 1) continue;
    if (g.ndim > 0) {
      const int p = g.ndim - 1;
      bool mergeable = true;
      for (int k = 0; k < a.nargs; ++k) mergeable &= g.strides[k][p] == a.strides[k][d] * a.shape[d];
      if (mergeable) {
        g.shape[p] *= a.shape[d];
        for (int k = 0; k < a.nargs; ++k) g.strides[k][p] = a.strides[k][d];
        continue;
      }
    }
    g.shape[g.ndim] = a.shape[d];
    for (int k = 0; k < a.nargs; ++k) g.strides[k][g.ndim] = a.strides[k][d];
    ++g.ndim;
  }
  return g;
}

constexpr int kThreads = 256;

// See Note [Elementwise launch]. `name` is used in error messages.
template <class Out, class... In, class F>
void launch_elementwise(const ElementwiseArgs& a, const F& f, cudaStream_t stream, const char* name) {
  constexpr int N = 1 + sizeof...(In);
  ICCRT_ASSERT(a.nargs == N, name, ": expected ", N, " operands but got ", a.nargs);
  if (a.numel <= 0) return;
  const Geometry g = coalesce(a);

  bool contiguous = g.ndim <= 1;
  for (int k = 0; k < N && g.ndim == 1; ++k) contiguous &= g.strides[k][0] == 1;
  if (contiguous) {
    constexpr int kVec = 16 / max_size<Out, In...>();
    Array<const char*, sizeof...(In)> in{};
    for (int k = 1; k < N; ++k) in[k - 1] = a.data[k];
    constexpr int64_t sizes[N] = {static_cast<int64_t>(sizeof(Out)), static_cast<int64_t>(sizeof(In))...};
    bool aligned = true;
    for (int k = 0; k < N; ++k) aligned &= reinterpret_cast<uintptr_t>(a.data[k]) % (sizes[k] * kVec) == 0;
    if (aligned) {
      launch(name, contiguous_kernel<kVec, F, Out, In...>, grid_size(a.numel / kVec + 1, kThreads), kThreads, 0,
             stream, a.numel, a.data[0], in, f);
      return;
    }
    // Misaligned views (a slice starting mid-vector) take the strided path with one dim: no division there.
  }

  Array<char*, N> ptr{};
  const int64_t* strides[N];
  for (int k = 0; k < N; ++k) {
    ptr[k] = a.data[k];
    strides[k] = g.strides[k];
  }
  if (fits_int32(a.numel, g.ndim, g.shape, strides, N)) {
    launch(name, strided_kernel<uint32_t, F, Out, In...>, grid_size(a.numel, kThreads), kThreads, 0, stream,
           static_cast<uint32_t>(a.numel), make_offset_calc<N, uint32_t>(g.ndim, g.shape, strides), ptr, f);
  } else {
    launch(name, strided_kernel<uint64_t, F, Out, In...>, grid_size(a.numel, kThreads), kThreads, 0, stream,
           static_cast<uint64_t>(a.numel), make_offset_calc<N, uint64_t>(g.ndim, g.shape, strides), ptr, f);
  }
}

}  // namespace iccrt::kernels::cuda::detail
