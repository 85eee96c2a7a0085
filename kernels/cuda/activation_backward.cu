// Backward of the smooth activations: out = grad * act'(x) for gelu (erf and tanh forms) and silu, through the
// shared elementwise launcher (operands out, grad, x; any strides). 16-bit floats compute in float.
//
// clang-format off
//   gelu (erf):  act'(x) = Phi(x) + x * phi(x),  Phi(x) = (1 + erf(x / sqrt 2)) / 2,  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
//   gelu (tanh): u = k (x + c x^3), t = tanh u:  act'(x) = (1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2
//   silu:        s = sigmoid(x):                 act'(x) = s (1 + x (1 - s))
// clang-format on
#include <cmath>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/nn_kernels.hpp"

namespace iccrt::kernels::cuda {
namespace {

using detail::from_op;
using detail::to_op;

__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double m_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float m_erf(float x) { return erff(x); }
__device__ __forceinline__ double m_erf(double x) { return erf(x); }

// exp of a non-positive argument only, so it cannot overflow (as in the forward sigmoid in unary.cu).
template <class A>
__device__ __forceinline__ A sigmoid(A x) {
  const A e = m_exp(x < A(0) ? x : -x);
  const A r = A(1) / (A(1) + e);
  return x >= A(0) ? r : e * r;
}

template <UnaryOp op, class A>
__device__ __forceinline__ A derivative(A x) {
  if constexpr (op == UnaryOp::GeluErf) {
    const A cdf = A(0.5) * (A(1) + m_erf(x * A(0.7071067811865476)));  // 1 / sqrt(2)
    const A pdf = m_exp(A(-0.5) * x * x) * A(0.3989422804014327);      // 1 / sqrt(2 pi)
    return cdf + x * pdf;
  } else if constexpr (op == UnaryOp::GeluTanh) {
    const A k = A(0.7978845608028654);  // sqrt(2 / pi)
    const A c = A(0.044715);
    const A x2 = x * x;
    const A t = m_tanh(k * (x + c * x2 * x));
    return A(0.5) * (A(1) + t) + A(0.5) * x * (A(1) - t * t) * k * (A(1) + A(3) * c * x2);
  } else {
    static_assert(op == UnaryOp::Silu, "activation_backward: unhandled op");
    const A s = sigmoid(x);
    return s * (A(1) + x * (A(1) - s));
  }
}

template <UnaryOp op, class T>
struct BackwardFn {
  __device__ __forceinline__ T operator()(T grad, T x) const {
    return from_op<T>(to_op(grad) * derivative<op>(to_op(x)));
  }
};

template <UnaryOp op>
void run(const ElementwiseArgs& a, cudaStream_t s, const char* name) {
  dispatch_floating(a.dtype[0], name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::launch_elementwise<T, T, T>(a, BackwardFn<op, T>{}, s, name);
  });
}

}  // namespace

void activation_backward(UnaryOp op, const ElementwiseArgs& a, Stream stream) {
  ICCRT_ASSERT(a.nargs == 3 && a.dtype[0] == a.dtype[1] && a.dtype[0] == a.dtype[2],
               "activation_backward expects (out, grad, x) of one dtype");
  const cudaStream_t s = detail::as_stream(stream);
  switch (op) {
    case UnaryOp::GeluErf:
      return run<UnaryOp::GeluErf>(a, s, "gelu_backward");
    case UnaryOp::GeluTanh:
      return run<UnaryOp::GeluTanh>(a, s, "gelu_backward");
    case UnaryOp::Silu:
      return run<UnaryOp::Silu>(a, s, "silu_backward");
    default:
      break;
  }
  ICCRT_CHECK_VALUE(false, "activation_backward supports gelu (erf or tanh) and silu but got unary op ",
                    static_cast<int>(op));
}

}  // namespace iccrt::kernels::cuda
