// layer_norm / rms_norm over the columns of x [rows, cols], forward and backward. Arithmetic and the saved
// statistics in float (double for float64 data).
//
// Forward: a group of threads per row (Note [Row groups] in nn_common.cuh): the mean, then the variance as the
// mean of squared deviations (two passes: no cancellation for rows far from zero), then the output.
// Backward, with xhat = (x - mean) * rstd (rms: x * rstd) and dy = grad_out * weight:
//   layer_norm: grad_in = rstd * (dy - mean(dy) - xhat * mean(dy * xhat))
//   rms_norm:   grad_in = rstd * (dy - xhat * mean(dy * xhat))
//   grad_weight[c] += sum over rows of grad_out * xhat,  grad_bias[c] += sum over rows of grad_out
// The parameter gradients come from a second kernel in which a block owns 32 columns and a slice of the rows;
// each block adds its partial sums into the caller-zeroed buffers with one atomicAdd per column.
#include <algorithm>

#include "kernels/cuda/nn_common.cuh"
#include "kernels/cuda/nn_kernels.hpp"

namespace iccrt::kernels::cuda {
namespace {

using detail::group_lane;
using detail::group_reduce;
using detail::group_row;
using detail::load;
using detail::m_sqrt;
using detail::store;
using detail::SumOp;

template <class T>
struct NormParams {
  const T* x;
  const T* weight;  // null: none
  const T* bias;    // null: none
  T* y;
  opmath_t<T>* mean;  // null: rms_norm
  opmath_t<T>* rstd;
  const T* grad_out;
  T* grad_in;
  opmath_t<T>* grad_weight;
  opmath_t<T>* grad_bias;
  int64_t rows, cols;
  opmath_t<T> eps;
  bool rms;
};

template <class T>
__global__ void __launch_bounds__(detail::kMaxRowThreads) norm_fwd_kernel(NormParams<T> p, int group) {
  using A = opmath_t<T>;
  __shared__ A smem[32];
  const int64_t row = group_row(group);
  const int lane = group_lane(group);
  const bool valid = row < p.rows;
  const T* x = p.x + (valid ? row : 0) * p.cols;
  const A inv_cols = A(1) / static_cast<A>(p.cols);

  A mean = A(0);
  if (!p.rms) {
    A acc = A(0);
    if (valid) {
      for (int64_t j = lane; j < p.cols; j += group) acc += load(x, j);
    }
    mean = group_reduce(acc, group, smem, SumOp{}) * inv_cols;
  }
  A sq = A(0);
  if (valid) {
    for (int64_t j = lane; j < p.cols; j += group) {
      const A d = load(x, j) - mean;
      sq += d * d;
    }
  }
  const A var = group_reduce(sq, group, smem, SumOp{}) * inv_cols;
  const A rstd = A(1) / m_sqrt(var + p.eps);
  if (!valid) return;
  if (lane == 0) {
    if (p.mean != nullptr) p.mean[row] = mean;
    p.rstd[row] = rstd;
  }
  T* y = p.y + row * p.cols;
  for (int64_t j = lane; j < p.cols; j += group) {
    A v = (load(x, j) - mean) * rstd;
    if (p.weight != nullptr) v *= load(p.weight, j);
    if (p.bias != nullptr) v += load(p.bias, j);
    store(y, j, v);
  }
}

template <class T>
__global__ void __launch_bounds__(detail::kMaxRowThreads) norm_bwd_input_kernel(NormParams<T> p, int group) {
  using A = opmath_t<T>;
  __shared__ A smem[32];
  const int64_t row = group_row(group);
  const int lane = group_lane(group);
  const bool valid = row < p.rows;
  const int64_t r = valid ? row : 0;
  const T* x = p.x + r * p.cols;
  const T* g = p.grad_out + r * p.cols;
  const A mean = p.rms ? A(0) : p.mean[r];
  const A rstd = p.rstd[r];

  A sum_dy = A(0), sum_dy_xhat = A(0);
  if (valid) {
    for (int64_t j = lane; j < p.cols; j += group) {
      A dy = load(g, j);
      if (p.weight != nullptr) dy *= load(p.weight, j);
      sum_dy += dy;
      sum_dy_xhat += dy * (load(x, j) - mean) * rstd;
    }
  }
  const A inv_cols = A(1) / static_cast<A>(p.cols);
  const A mean_dy = p.rms ? A(0) : group_reduce(sum_dy, group, smem, SumOp{}) * inv_cols;
  const A mean_dy_xhat = group_reduce(sum_dy_xhat, group, smem, SumOp{}) * inv_cols;
  if (!valid) return;
  T* gi = p.grad_in + row * p.cols;
  for (int64_t j = lane; j < p.cols; j += group) {
    A dy = load(g, j);
    if (p.weight != nullptr) dy *= load(p.weight, j);
    const A xhat = (load(x, j) - mean) * rstd;
    store(gi, j, rstd * (dy - mean_dy - xhat * mean_dy_xhat));
  }
}

constexpr int kParamCols = 32;  // columns per block (one per lane: coalesced row reads)
constexpr int kParamRows = 8;   // rows a block reads at once

template <class T>
__global__ void __launch_bounds__(kParamCols* kParamRows) norm_bwd_param_kernel(NormParams<T> p) {
  using A = opmath_t<T>;
  __shared__ A s_w[kParamRows][kParamCols];
  __shared__ A s_b[kParamRows][kParamCols];
  const int tx = static_cast<int>(threadIdx.x) % kParamCols, ty = static_cast<int>(threadIdx.x) / kParamCols;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kParamCols + tx;
  A gw = A(0), gb = A(0);
  if (col < p.cols) {
    for (int64_t row = static_cast<int64_t>(blockIdx.y) * kParamRows + ty; row < p.rows;
         row += static_cast<int64_t>(gridDim.y) * kParamRows) {
      const A g = load(p.grad_out, row * p.cols + col);
      const A mean = p.rms ? A(0) : p.mean[row];
      gw += g * (load(p.x, row * p.cols + col) - mean) * p.rstd[row];
      gb += g;
    }
  }
  s_w[ty][tx] = gw;
  s_b[ty][tx] = gb;
  __syncthreads();
  if (ty != 0 || col >= p.cols) return;
  for (int k = 1; k < kParamRows; ++k) {
    gw += s_w[k][tx];
    gb += s_b[k][tx];
  }
  if (p.grad_weight != nullptr) atomicAdd(p.grad_weight + col, gw);
  if (p.grad_bias != nullptr) atomicAdd(p.grad_bias + col, gb);
}

template <class T>
NormParams<T> params_of(const NormArgs& a) {
  using A = opmath_t<T>;
  NormParams<T> p;
  p.x = static_cast<const T*>(a.x);
  p.weight = static_cast<const T*>(a.weight);
  p.bias = static_cast<const T*>(a.bias);
  p.y = static_cast<T*>(a.y);
  p.mean = static_cast<A*>(a.mean);
  p.rstd = static_cast<A*>(a.rstd);
  p.grad_out = static_cast<const T*>(a.grad_out);
  p.grad_in = static_cast<T*>(a.grad_in);
  p.grad_weight = static_cast<A*>(a.grad_weight);
  p.grad_bias = static_cast<A*>(a.grad_bias);
  p.rows = a.rows;
  p.cols = a.cols;
  p.eps = static_cast<A>(a.eps);
  p.rms = a.rms;
  return p;
}

}  // namespace

void norm_forward(const NormArgs& a, Stream stream) {
  const char* name = a.rms ? "rms_norm" : "layer_norm";
  if (a.rows == 0) return;  // cols == 0 is fine: mean and rstd come out NaN, as 0 / 0 does
  ICCRT_ASSERT(a.rstd != nullptr && (a.rms || a.mean != nullptr), name, ": statistics buffers missing");
  const cudaStream_t s = detail::as_stream(stream);
  dispatch_floating(a.dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto l = detail::row_launch(a.rows, a.cols, name);
    detail::launch(name, norm_fwd_kernel<T>, l.grid, l.block, 0, s, params_of<T>(a), l.group);
  });
}

void norm_backward(const NormArgs& a, Stream stream) {
  const char* name = a.rms ? "rms_norm_backward" : "layer_norm_backward";
  if (a.rows == 0 || a.cols == 0) return;
  ICCRT_ASSERT(a.rstd != nullptr && (a.rms || a.mean != nullptr), name, ": statistics buffers missing");
  const cudaStream_t s = detail::as_stream(stream);
  dispatch_floating(a.dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const NormParams<T> p = params_of<T>(a);
    if (a.grad_in != nullptr) {
      const auto l = detail::row_launch(a.rows, a.cols, name);
      detail::launch(name, norm_bwd_input_kernel<T>, l.grid, l.block, 0, s, p, l.group);
    }
    if (a.grad_weight != nullptr || a.grad_bias != nullptr) {
      // Enough row slices to give every SM a few blocks, each slice at least 64 rows deep.
      const int64_t col_blocks = (a.cols + kParamCols - 1) / kParamCols;
      const int64_t want = (static_cast<int64_t>(detail::sm_count()) * 4 + col_blocks - 1) / col_blocks;
      const int64_t most = (a.rows + 63) / 64;
      const int64_t slices = std::max<int64_t>(1, std::min<int64_t>({want, most, 65535}));
      ICCRT_CHECK_VALUE(col_blocks <= INT32_MAX, name, ": ", a.cols, " columns exceed the CUDA grid limit");
      const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(slices));
      detail::launch(name, norm_bwd_param_kernel<T>, grid, kParamCols * kParamRows, 0, s, p);
    }
  });
}

}  // namespace iccrt::kernels::cuda
