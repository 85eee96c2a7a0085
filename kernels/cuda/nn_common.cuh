#pragma once
// Private to the model kernels in kernels/cuda (softmax.cu, norm.cu, cross_entropy.cu, attention.cu, conv.cu,
// ...): element load/store in the arithmetic type, float/double math overloads, the "row group" launch shape
// that reduces one row with a warp or a whole block, and stream-ordered scratch memory.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "iccrt/core/error.hpp"
#include "kernels/cuda/cuda_utils.cuh"
#include "kernels/cuda/numeric.cuh"

namespace iccrt::kernels::cuda::detail {

// Element i of a buffer of storage type T, in its arithmetic type (float for 16-bit floats).
template <class T>
__device__ __forceinline__ opmath_t<T> load(const T* p, int64_t i) {
  return to_op(p[i]);
}
template <class T>
__device__ __forceinline__ void store(T* p, int64_t i, opmath_t<T> v) {
  p[i] = from_op<T>(v);
}

// Overloads so one kernel body serves float and double (std:: overloads are host-only). The accurate library
// functions, not the __expf intrinsics: results are compared with the CPU kernels.
__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_log(float x) { return logf(x); }
__device__ __forceinline__ double m_log(double x) { return log(x); }
__device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }

template <class A>
__device__ __forceinline__ A neg_inf() {
  return -static_cast<A>(INFINITY);
}

struct SumOp {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return a + b;
  }
};
struct MaxOp {  // NaN never wins here; callers that must propagate NaN carry it in a sum instead
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return b > a ? b : a;
  }
};

// Note [Row groups]
// A row of `cols` elements is reduced by a group of `group` consecutive threads: a warp (32) for short rows,
// so that a 256-thread block works on 8 rows at once, or a whole block (256 or 512 threads) for long ones.
// Inside a group the threads stride through the row (coalesced loads), reduce with warp shuffles and, for
// groups wider than a warp, through `smem` (32 entries). Every thread of the block must call group_reduce the
// same number of times (there are __syncthreads inside for wide groups), so kernels mark rows past the end as
// invalid rather than returning early.
constexpr int kMaxRowThreads = 512;  // the widest group; row kernels keep 128 registers per thread at this size

struct RowLaunch {
  int group = 32;   // threads per row
  int block = 256;  // threads per block
  unsigned grid = 1;
};

inline RowLaunch row_launch(int64_t rows, int64_t cols, const char* op) {
  RowLaunch l;
  l.group = cols <= 1024 ? 32 : (cols <= 8192 ? 256 : kMaxRowThreads);
  l.block = l.group < 256 ? 256 : l.group;
  const int64_t per_block = l.block / l.group;
  const int64_t blocks = (rows + per_block - 1) / per_block;
  ICCRT_CHECK_VALUE(blocks <= INT32_MAX, op, ": ", rows, " rows exceed the CUDA grid limit");
  l.grid = static_cast<unsigned>(blocks < 1 ? 1 : blocks);
  return l;
}

// The row this thread works on and its lane in the row's group (see Note [Row groups]).
__device__ __forceinline__ int64_t group_row(int group) {
  return static_cast<int64_t>(blockIdx.x) * (blockDim.x / group) + threadIdx.x / group;
}
__device__ __forceinline__ int group_lane(int group) { return static_cast<int>(threadIdx.x) & (group - 1); }

// Reduces v over the thread's group with `op`; every thread of the group gets the result. `smem` holds at
// least 32 values and is only touched by groups wider than a warp (which then span the whole block).
template <class A, class Op>
__device__ __forceinline__ A group_reduce(A v, int group, A* smem, Op op) {
  const int width = group < 32 ? group : 32;
  for (int o = width / 2; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (group > 32) {
    const int warp = static_cast<int>(threadIdx.x) >> 5;
    __syncthreads();  // earlier readers of smem are done
    if ((threadIdx.x & 31) == 0) smem[warp] = v;
    __syncthreads();
    const int warps = group >> 5;
    v = smem[0];
    for (int w = 1; w < warps; ++w) v = op(v, smem[w]);
  }
  return v;
}

// Stream-ordered scratch memory (cudaMallocAsync / cudaFreeAsync): freed in stream order, so no synchronisation
// is needed before the kernels that use it have run.
class StreamScratch {
 public:
  StreamScratch(size_t bytes, cudaStream_t s, const char* op) : stream_(s) {
    if (bytes > 0) ICCRT_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, s), op, ": allocating ", bytes, " bytes of scratch");
  }
  ~StreamScratch() {
    if (ptr_ != nullptr) (void)cudaFreeAsync(ptr_, stream_);  // cannot fail for a pointer from cudaMallocAsync
  }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

}  // namespace iccrt::kernels::cuda::detail
