// Embedding lookup (gather of weight rows) and its backward (scatter-add of grad_out rows), one warp per
// index: the lanes walk the row, so every load and store is coalesced.
//
// Note [Embedding index check]
// The ops layer cannot read CUDA indices without a synchronisation, so the CPU-side range check covers CPU
// tensors only. The kernels check each index on the device and trap on one outside [0, num): the launch fails
// and the error surfaces at the next synchronising call (as documented in include/iccrt/ops/nn.hpp), and no
// memory outside the weight is ever touched.
#include <cstdio>

#include "kernels/cuda/nn_common.cuh"
#include "kernels/cuda/nn_kernels.hpp"

namespace iccrt::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / 32;

template <class I>
__device__ __forceinline__ int64_t checked_index(const I* indices, int64_t i, int64_t num, const char* op) {
  const int64_t idx = static_cast<int64_t>(indices[i]);
  if (idx < 0 || idx >= num) {
    printf("iccrt %s: index %lld at position %lld is out of range [0, %lld)\n", op, static_cast<long long>(idx),
           static_cast<long long>(i), static_cast<long long>(num));
    __trap();
  }
  return idx;
}

template <class T, class I>
__global__ void __launch_bounds__(kThreads)
    embedding_fwd_kernel(const T* __restrict__ weight, const I* __restrict__ indices, T* __restrict__ out, int64_t n,
                         int64_t num, int64_t dim) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (row >= n) return;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int64_t idx = checked_index(indices, row, num, "embedding");
  const T* src = weight + idx * dim;
  T* dst = out + row * dim;
  for (int64_t j = lane; j < dim; j += 32) dst[j] = src[j];
}

template <class T, class I>
__global__ void __launch_bounds__(kThreads)
    embedding_bwd_kernel(const T* __restrict__ grad_out, const I* __restrict__ indices,
                         opmath_t<T>* __restrict__ grad_weight, int64_t n, int64_t num, int64_t dim,
                         int64_t padding_idx) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (row >= n) return;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int64_t idx = checked_index(indices, row, num, "embedding_backward");
  if (idx == padding_idx) return;
  const T* src = grad_out + row * dim;
  opmath_t<T>* dst = grad_weight + idx * dim;
  for (int64_t j = lane; j < dim; j += 32) atomicAdd(dst + j, detail::load(src, j));
}

// Calls f(TypeTag<I>{}) for the index type.
template <class F>
void dispatch_index(DType t, const char* op, F&& f) {
  if (t == DType::Int64) return f(TypeTag<int64_t>{});
  if (t == DType::Int32) return f(TypeTag<int32_t>{});
  ICCRT_CHECK_DTYPE(false, op, " expects int64 or int32 indices but got ", dtype_name(t));
}

unsigned blocks_for(int64_t n, const char* op) {
  const int64_t blocks = (n + kRowsPerBlock - 1) / kRowsPerBlock;
  ICCRT_CHECK_VALUE(blocks <= INT32_MAX, op, ": ", n, " indices exceed the CUDA grid limit");
  return static_cast<unsigned>(blocks);
}

}  // namespace

void embedding_forward(const EmbeddingArgs& a, Stream stream) {
  const char* name = "embedding";
  if (a.n == 0 || a.dim == 0) return;
  const cudaStream_t s = detail::as_stream(stream);
  dispatch_floating(a.dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_index(a.index_dtype, name, [&](auto itag) {
      using I = typename decltype(itag)::type;
      detail::launch(name, embedding_fwd_kernel<T, I>, blocks_for(a.n, name), kThreads, 0, s,
                     static_cast<const T*>(a.weight), static_cast<const I*>(a.indices), static_cast<T*>(a.out), a.n,
                     a.num, a.dim);
    });
  });
}

void embedding_backward(const EmbeddingArgs& a, Stream stream) {
  const char* name = "embedding_backward";
  if (a.n == 0 || a.dim == 0) return;
  const cudaStream_t s = detail::as_stream(stream);
  dispatch_floating(a.dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_index(a.index_dtype, name, [&](auto itag) {
      using I = typename decltype(itag)::type;
      detail::launch(name, embedding_bwd_kernel<T, I>, blocks_for(a.n, name), kThreads, 0, s,
                     static_cast<const T*>(a.grad_out), static_cast<const I*>(a.indices),
                     static_cast<opmath_t<T>*>(a.grad_weight), a.n, a.num, a.dim, a.padding_idx);
    });
  });
}

}  // namespace iccrt::kernels::cuda
