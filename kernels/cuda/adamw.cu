// Fused AdamW step, in place on contiguous param / exp_avg / exp_avg_sq (grad of the same dtype), one grid-stride
// pass. Arithmetic in float (double for float64). With g = grad (negated when maximizing), t = step:
//   param      *= 1 - lr * weight_decay                     (decoupled weight decay)
//   exp_avg     = beta1 * exp_avg + (1 - beta1) * g
//   exp_avg_sq  = beta2 * exp_avg_sq + (1 - beta2) * g^2
//   param      -= lr / (1 - beta1^t) * exp_avg / (sqrt(exp_avg_sq) / sqrt(1 - beta2^t) + eps)
// The bias corrections are computed once on the host in double (the same coefficients as kernels/cpu/adamw.cpp).
#include <cmath>

#include "kernels/cuda/nn_common.cuh"
#include "kernels/cuda/nn_kernels.hpp"

namespace iccrt::kernels::cuda {
namespace {

constexpr int kThreads = 256;

template <class A>
struct AdamWCoeffs {
  A decay;         // 1 - lr * weight_decay
  A beta1, beta2;  // as given
  A one_minus_b1, one_minus_b2;
  A step_size;     // lr / (1 - beta1^t)
  A inv_sqrt_bc2;  // 1 / sqrt(1 - beta2^t)
  A eps;
  bool maximize;
};

template <class T>
__global__ void __launch_bounds__(kThreads)
    adamw_kernel(T* __restrict__ param, const T* __restrict__ grad, T* __restrict__ exp_avg, T* __restrict__ exp_avg_sq,
                 int64_t n, AdamWCoeffs<opmath_t<T>> c) {
  using A = opmath_t<T>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    A g = detail::load(grad, i);
    if (c.maximize) g = -g;
    const A p = detail::load(param, i) * c.decay;
    const A m = c.beta1 * detail::load(exp_avg, i) + c.one_minus_b1 * g;
    const A v = c.beta2 * detail::load(exp_avg_sq, i) + c.one_minus_b2 * g * g;
    const A denom = detail::m_sqrt(v) * c.inv_sqrt_bc2 + c.eps;
    detail::store(param, i, p - c.step_size * m / denom);
    detail::store(exp_avg, i, m);
    detail::store(exp_avg_sq, i, v);
  }
}

}  // namespace

void adamw_step(const AdamWArgs& a, Stream stream) {
  const char* name = "adamw_";
  ICCRT_CHECK_VALUE(a.step >= 1, name, ": expected step >= 1 (it counts from 1) but got ", a.step);
  if (a.n == 0) return;
  const cudaStream_t s = detail::as_stream(stream);
  dispatch_floating(a.dtype, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = opmath_t<T>;
    const double t = static_cast<double>(a.step);
    AdamWCoeffs<A> c;
    c.decay = static_cast<A>(1.0 - a.lr * a.weight_decay);
    c.beta1 = static_cast<A>(a.beta1);
    c.beta2 = static_cast<A>(a.beta2);
    c.one_minus_b1 = static_cast<A>(1.0 - a.beta1);
    c.one_minus_b2 = static_cast<A>(1.0 - a.beta2);
    c.step_size = static_cast<A>(a.lr / (1.0 - std::pow(a.beta1, t)));
    c.inv_sqrt_bc2 = static_cast<A>(1.0 / std::sqrt(1.0 - std::pow(a.beta2, t)));
    c.eps = static_cast<A>(a.eps);
    c.maximize = a.maximize;
    detail::launch(name, adamw_kernel<T>, detail::grid_size(a.n, kThreads), kThreads, 0, s, static_cast<T*>(a.param),
                   static_cast<const T*>(a.grad), static_cast<T*>(a.exp_avg), static_cast<T*>(a.exp_avg_sq), a.n, c);
  });
}

}  // namespace iccrt::kernels::cuda
