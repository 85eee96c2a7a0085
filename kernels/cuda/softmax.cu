// softmax / log_softmax along n of x viewed as [outer, n, inner], forward and backward. Arithmetic in float
// (double for float64 data).
//
// Two layouts:
//   - rows: a group of threads per (outer, inner) row (Note [Row groups] in nn_common.cuh), walking n with
//     stride `inner`. Always used for inner == 1 (contiguous rows), and for inner > 1 when there are too few
//     rows to give every thread its own;
//   - columns: one thread per (outer, inner) position walking n; neighbouring threads read neighbouring inner
//     positions, so loads coalesce when inner is large.
// The forward keeps a running (max, sum of exp(x - max)) per thread so that x is read twice, not three times.
#include "kernels/cuda/nn_common.cuh"
#include "kernels/cuda/nn_kernels.hpp"

namespace iccrt::kernels::cuda {
namespace {

using detail::group_lane;
using detail::group_reduce;
using detail::group_row;
using detail::load;
using detail::m_exp;
using detail::m_log;
using detail::MaxOp;
using detail::neg_inf;
using detail::store;
using detail::SumOp;

constexpr int kColumnThreads = 256;

// Folds v into the running (m, s) = (max, sum of exp(x - max)). -inf adds nothing; NaN poisons s.
template <class A>
__device__ __forceinline__ void online_add(A& m, A& s, A v) {
  if (v > m) {
    s = s * m_exp(m - v) + A(1);  // m == -inf gives exp(-inf) = 0
    m = v;
  } else {
    s += v == neg_inf<A>() ? A(0) : m_exp(v - m);
  }
}

// s (relative to m) rescaled to the common maximum M >= m.
template <class A>
__device__ __forceinline__ A rescale(A s, A m, A M) {
  return m == M ? s : s * m_exp(m - M);
}

template <class A>
__device__ __forceinline__ A softmax_value(A v, A M, A S, bool log) {
  return log ? v - M - m_log(S) : m_exp(v - M) / S;
}

template <class T>
__global__ void __launch_bounds__(detail::kMaxRowThreads)
    softmax_fwd_rows(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n, int64_t inner, int group,
                     bool log) {
  using A = opmath_t<T>;
  __shared__ A smem[32];
  const int64_t row = group_row(group);
  const int lane = group_lane(group);
  const bool valid = row < rows;
  const int64_t base = valid ? (row / inner) * n * inner + row % inner : 0;
  A m = neg_inf<A>(), s = A(0);
  if (valid) {
    for (int64_t j = lane; j < n; j += group) online_add(m, s, load(x, base + j * inner));
  }
  const A M = group_reduce(m, group, smem, MaxOp{});
  const A S = group_reduce(rescale(s, m, M), group, smem, SumOp{});
  if (!valid) return;
  for (int64_t j = lane; j < n; j += group) {
    const int64_t i = base + j * inner;
    store(y, i, softmax_value(load(x, i), M, S, log));
  }
}

template <class T>
__global__ void __launch_bounds__(kColumnThreads)
    softmax_fwd_columns(const T* __restrict__ x, T* __restrict__ y, int64_t cols, int64_t n, int64_t inner, bool log) {
  using A = opmath_t<T>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < cols; c += stride) {
    const int64_t base = (c / inner) * n * inner + c % inner;
    A m = neg_inf<A>(), s = A(0);
    for (int64_t j = 0; j < n; ++j) online_add(m, s, load(x, base + j * inner));
    for (int64_t j = 0; j < n; ++j) {
      const int64_t i = base + j * inner;
      store(y, i, softmax_value(load(x, i), m, s, log));
    }
  }
}

// softmax:     grad_in = y * (g - sum(g * y))
// log_softmax: grad_in = g - exp(y) * sum(g)
template <class A>
__device__ __forceinline__ A backward_term(A g, A y, bool log) {
  return log ? g : g * y;
}
template <class A>
__device__ __forceinline__ A backward_value(A g, A y, A sum, bool log) {
  return log ? g - m_exp(y) * sum : y * (g - sum);
}

template <class T>
__global__ void __launch_bounds__(detail::kMaxRowThreads)
    softmax_bwd_rows(const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ gi, int64_t rows, int64_t n,
                     int64_t inner, int group, bool log) {
  using A = opmath_t<T>;
  __shared__ A smem[32];
  const int64_t row = group_row(group);
  const int lane = group_lane(group);
  const bool valid = row < rows;
  const int64_t base = valid ? (row / inner) * n * inner + row % inner : 0;
  A acc = A(0);
  if (valid) {
    for (int64_t j = lane; j < n; j += group) {
      const int64_t i = base + j * inner;
      acc += backward_term(load(g, i), load(y, i), log);
    }
  }
  const A sum = group_reduce(acc, group, smem, SumOp{});
  if (!valid) return;
  for (int64_t j = lane; j < n; j += group) {
    const int64_t i = base + j * inner;
    store(gi, i, backward_value(load(g, i), load(y, i), sum, log));
  }
}

template <class T>
__global__ void __launch_bounds__(kColumnThreads)
    softmax_bwd_columns(const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ gi, int64_t cols, int64_t n,
                        int64_t inner, bool log) {
  using A = opmath_t<T>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < cols; c += stride) {
    const int64_t base = (c / inner) * n * inner + c % inner;
    A sum = A(0);
    for (int64_t j = 0; j < n; ++j) sum += backward_term(load(g, base + j * inner), load(y, base + j * inner), log);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t i = base + j * inner;
      store(gi, i, backward_value(load(g, i), load(y, i), sum, log));
    }
  }
}

// Column layout when there are enough (outer, inner) positions to fill the GPU with one thread each.
bool use_columns(const SoftmaxArgs& a) {
  return a.inner > 1 && a.outer * a.inner >= static_cast<int64_t>(detail::sm_count()) * kColumnThreads;
}

const char* name_of(const SoftmaxArgs& a, bool backward) {
  if (a.log) return backward ? "log_softmax_backward" : "log_softmax";
  return backward ? "softmax_backward" : "softmax";
}

}  // namespace

void softmax_forward(const SoftmaxArgs& a, Stream stream) {
  const char* name = name_of(a, false);
  const int64_t rows = a.outer * a.inner;
  if (rows == 0 || a.n == 0) return;
  const cudaStream_t s = detail::as_stream(stream);
  dispatch_floating(a.dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = static_cast<const T*>(a.x);
    T* y = static_cast<T*>(a.out);
    if (use_columns(a)) {
      detail::launch(name, softmax_fwd_columns<T>, detail::grid_size(rows, kColumnThreads), kColumnThreads, 0, s, x, y,
                     rows, a.n, a.inner, a.log);
    } else {
      const auto l = detail::row_launch(rows, a.n, name);
      detail::launch(name, softmax_fwd_rows<T>, l.grid, l.block, 0, s, x, y, rows, a.n, a.inner, l.group, a.log);
    }
  });
}

void softmax_backward(const SoftmaxArgs& a, Stream stream) {
  const char* name = name_of(a, true);
  const int64_t rows = a.outer * a.inner;
  if (rows == 0 || a.n == 0) return;
  const cudaStream_t s = detail::as_stream(stream);
  dispatch_floating(a.dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* g = static_cast<const T*>(a.x);
    const T* y = static_cast<const T*>(a.y);
    T* gi = static_cast<T*>(a.out);
    if (use_columns(a)) {
      detail::launch(name, softmax_bwd_columns<T>, detail::grid_size(rows, kColumnThreads), kColumnThreads, 0, s, g, y,
                     gi, rows, a.n, a.inner, a.log);
    } else {
      const auto l = detail::row_launch(rows, a.n, name);
      detail::launch(name, softmax_bwd_rows<T>, l.grid, l.block, 0, s, g, y, gi, rows, a.n, a.inner, l.group, a.log);
    }
  });
}

}  // namespace iccrt::kernels::cuda
