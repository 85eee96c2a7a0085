// Fused cross-entropy over logits [n, c] with label smoothing ls, one row per group of threads (Note [Row
// groups] in nn_common.cuh). Arithmetic and the saved statistics in float (double for float64 logits).
//
// With lse = log sum_j exp(x_j) and the target distribution q = (1 - ls) one_hot(t) + ls / c (summing to 1):
//   loss_row = -sum_j q_j (x_j - lse) = lse - (1 - ls) x_t - (ls / c) sum_j x_j
//   d loss_row / d x_j = softmax_j - q_j = exp(x_j - lse) - q_j
// Rows whose target is ignore_index get loss 0 and gradient 0 (their lse is still written). A target outside
// [0, c) that is not ignore_index traps on the device (the ops layer cannot check CUDA targets without a sync).
#include <cstdio>

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

template <class T>
struct CEParams {
  const T* logits;
  const int64_t* target;
  opmath_t<T>* loss_rows;
  opmath_t<T>* lse;
  const opmath_t<T>* row_scale;
  T* grad_logits;
  int64_t n, c, ignore_index;
  opmath_t<T> smoothing;
};

template <class T>
__global__ void __launch_bounds__(detail::kMaxRowThreads) ce_fwd_kernel(CEParams<T> p, int group) {
  using A = opmath_t<T>;
  __shared__ A smem[32];
  const int64_t row = group_row(group);
  const int lane = group_lane(group);
  const bool valid = row < p.n;
  const T* x = p.logits + (valid ? row : 0) * p.c;
  A m = neg_inf<A>(), s = A(0), sum_x = A(0);
  if (valid) {
    for (int64_t j = lane; j < p.c; j += group) {
      const A v = load(x, j);
      sum_x += v;
      if (v > m) {  // running (max, sum of exp(x - max)); -inf adds nothing, NaN poisons the sum
        s = s * m_exp(m - v) + A(1);
        m = v;
      } else {
        s += v == neg_inf<A>() ? A(0) : m_exp(v - m);
      }
    }
  }
  const A M = group_reduce(m, group, smem, MaxOp{});
  const A S = group_reduce(m == M ? s : s * m_exp(m - M), group, smem, SumOp{});
  const A total_x = p.smoothing != A(0) ? group_reduce(sum_x, group, smem, SumOp{}) : A(0);
  if (!valid || lane != 0) return;
  const A lse = M + m_log(S);
  p.lse[row] = lse;
  const int64_t t = p.target[row];
  A loss = A(0);
  if (t != p.ignore_index) {
    if (t < 0 || t >= p.c) {  // see Note [Embedding index check] in embedding.cu: the same device-side rule
      printf("iccrt cross_entropy: target %lld of row %lld is out of range [0, %lld)\n", static_cast<long long>(t),
             static_cast<long long>(row), static_cast<long long>(p.c));
      __trap();
    }
    loss = lse - (A(1) - p.smoothing) * load(x, t);
    if (p.smoothing != A(0)) loss -= p.smoothing / static_cast<A>(p.c) * total_x;
  }
  p.loss_rows[row] = loss;
}

template <class T>
__global__ void __launch_bounds__(detail::kMaxRowThreads) ce_bwd_kernel(CEParams<T> p, int group) {
  using A = opmath_t<T>;
  const int64_t row = group_row(group);
  if (row >= p.n) return;
  const int lane = group_lane(group);
  T* gx = p.grad_logits + row * p.c;
  const int64_t t = p.target[row];
  if (t == p.ignore_index) {
    for (int64_t j = lane; j < p.c; j += group) store(gx, j, A(0));
    return;
  }
  const T* x = p.logits + row * p.c;
  const A scale = p.row_scale[row], lse = p.lse[row];
  const A uniform = p.smoothing / static_cast<A>(p.c), on_target = A(1) - p.smoothing;
  for (int64_t j = lane; j < p.c; j += group) {
    const A q = j == t ? uniform + on_target : uniform;
    store(gx, j, scale * (m_exp(load(x, j) - lse) - q));
  }
}

template <class T>
CEParams<T> params_of(const CrossEntropyArgs& a) {
  using A = opmath_t<T>;
  CEParams<T> p;
  p.logits = static_cast<const T*>(a.logits);
  p.target = a.target;
  p.loss_rows = static_cast<A*>(a.loss_rows);
  p.lse = static_cast<A*>(a.lse);
  p.row_scale = static_cast<const A*>(a.row_scale);
  p.grad_logits = static_cast<T*>(a.grad_logits);
  p.n = a.n;
  p.c = a.c;
  p.ignore_index = a.ignore_index;
  p.smoothing = static_cast<A>(a.label_smoothing);
  return p;
}

}  // namespace

void cross_entropy_forward(const CrossEntropyArgs& a, Stream stream) {
  const char* name = "cross_entropy";
  if (a.n == 0) return;
  ICCRT_CHECK_VALUE(a.c > 0, name, ": expected at least one class but got 0");
  const cudaStream_t s = detail::as_stream(stream);
  dispatch_floating(a.dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto l = detail::row_launch(a.n, a.c, name);
    detail::launch(name, ce_fwd_kernel<T>, l.grid, l.block, 0, s, params_of<T>(a), l.group);
  });
}

void cross_entropy_backward(const CrossEntropyArgs& a, Stream stream) {
  const char* name = "cross_entropy_backward";
  if (a.n == 0 || a.c == 0) return;
  const cudaStream_t s = detail::as_stream(stream);
  dispatch_floating(a.dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto l = detail::row_launch(a.n, a.c, name);
    detail::launch(name, ce_bwd_kernel<T>, l.grid, l.block, 0, s, params_of<T>(a), l.group);
  });
}

}  // namespace iccrt::kernels::cuda
