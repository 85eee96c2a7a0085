// Unary pointwise ops (out = f(x), same dtype). Neg/Abs/Relu take every dtype (bool maps to itself, as in the
// CPU kernel); the rest take floating dtypes only (the ops layer validates; a bad dtype here raises DTypeError).
// 16-bit floats compute in float.
#include <cmath>

#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/elementwise.cuh"

namespace iccrt::kernels::cuda {
namespace {

using detail::from_op;
using detail::to_op;

// Overloads so one functor body serves float and double (the std:: overloads are host-only).
__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_log(float x) { return logf(x); }
__device__ __forceinline__ double m_log(double x) { return log(x); }
__device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float m_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double m_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float m_erf(float x) { return erff(x); }
__device__ __forceinline__ double m_erf(double x) { return erf(x); }

// Integer negation through unsigned arithmetic: wraps (as the CPU kernel does) instead of being undefined for
// INT_MIN. Bool negates to itself (-1 and 1 are both true).
template <class A>
__device__ __forceinline__ A negate(A x) {
  if constexpr (std::is_same_v<A, bool> || std::is_floating_point_v<A>) {
    return std::is_same_v<A, bool> ? x : -x;
  } else {
    using U = std::make_unsigned_t<A>;
    return static_cast<A>(U(0) - static_cast<U>(x));
  }
}

// exp of a non-positive argument only, so it cannot overflow: 1/(1+exp(-x)) would give exactly 0 for x < -88
// in float where the true value (and the CPU kernel's) is a small subnormal.
template <class A>
__device__ __forceinline__ A sigmoid(A x) {
  const A e = m_exp(x < A(0) ? x : -x);
  const A r = A(1) / (A(1) + e);
  return x >= A(0) ? r : e * r;
}

template <UnaryOp op, class A>
__device__ __forceinline__ A apply(A x) {
  if constexpr (op == UnaryOp::Neg) {
    return negate(x);
  } else if constexpr (op == UnaryOp::Abs) {
    if constexpr (std::is_unsigned_v<A> || std::is_same_v<A, bool>) return x;
    else return x < A(0) ? negate(x) : x;
  } else if constexpr (op == UnaryOp::Relu) {
    if constexpr (std::is_unsigned_v<A> || std::is_same_v<A, bool>) return x;
    else return x < A(0) ? A(0) : x;  // NaN < 0 is false: NaN passes through, as in PyTorch
  } else if constexpr (op == UnaryOp::Exp) {
    return m_exp(x);
  } else if constexpr (op == UnaryOp::Log) {
    return m_log(x);
  } else if constexpr (op == UnaryOp::Sqrt) {
    return m_sqrt(x);
  } else if constexpr (op == UnaryOp::Rsqrt) {
    return A(1) / m_sqrt(x);  // not rsqrtf: its 2-ulp error would differ from the CPU result
  } else if constexpr (op == UnaryOp::Tanh) {
    return m_tanh(x);
  } else if constexpr (op == UnaryOp::Sigmoid) {
    return sigmoid(x);
  } else if constexpr (op == UnaryOp::GeluTanh) {
    const A kAlpha = A(0.7978845608028654);  // sqrt(2/pi)
    return A(0.5) * x * (A(1) + m_tanh(kAlpha * (x + A(0.044715) * x * x * x)));
  } else if constexpr (op == UnaryOp::GeluErf) {
    return A(0.5) * x * (A(1) + m_erf(x * A(0.7071067811865476)));  // 1/sqrt(2)
  } else {
    static_assert(op == UnaryOp::Silu, "unhandled unary op");
    return x * sigmoid(x);
  }
}

template <UnaryOp op, class T>
struct UnaryFn {
  __device__ __forceinline__ T operator()(T x) const { return from_op<T>(apply<op>(to_op(x))); }
};

constexpr bool any_numeric(UnaryOp op) { return op == UnaryOp::Neg || op == UnaryOp::Abs || op == UnaryOp::Relu; }

const char* name_of(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Abs: return "abs";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Rsqrt: return "rsqrt";
    case UnaryOp::Tanh: return "tanh";
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::Relu: return "relu";
    case UnaryOp::GeluTanh: return "gelu_tanh";
    case UnaryOp::GeluErf: return "gelu_erf";
    case UnaryOp::Silu: return "silu";
  }
  return "unary";
}

template <UnaryOp op>
void run(const ElementwiseArgs& a, cudaStream_t stream) {
  const char* name = name_of(op);
  dispatch(a.dtype[0], [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr bool ok = any_numeric(op) || detail::is_float_v<T>;
    if constexpr (ok) {
      detail::launch_elementwise<T, T>(a, UnaryFn<op, T>{}, stream, name);
    } else {
      ICCRT_CHECK_DTYPE(false, "CUDA ", name, " does not support dtype ", dtype_name(a.dtype[0]));
    }
  });
}

}  // namespace

void unary(UnaryOp op, const ElementwiseArgs& a, Stream stream) {
  ICCRT_ASSERT(a.nargs == 2 && a.dtype[0] == a.dtype[1], "unary expects (out, x) of one dtype");
  const cudaStream_t s = detail::as_stream(stream);
  switch (op) {
    case UnaryOp::Neg: return run<UnaryOp::Neg>(a, s);
    case UnaryOp::Abs: return run<UnaryOp::Abs>(a, s);
    case UnaryOp::Exp: return run<UnaryOp::Exp>(a, s);
    case UnaryOp::Log: return run<UnaryOp::Log>(a, s);
    case UnaryOp::Sqrt: return run<UnaryOp::Sqrt>(a, s);
    case UnaryOp::Rsqrt: return run<UnaryOp::Rsqrt>(a, s);
    case UnaryOp::Tanh: return run<UnaryOp::Tanh>(a, s);
    case UnaryOp::Sigmoid: return run<UnaryOp::Sigmoid>(a, s);
    case UnaryOp::Relu: return run<UnaryOp::Relu>(a, s);
    case UnaryOp::GeluTanh: return run<UnaryOp::GeluTanh>(a, s);
    case UnaryOp::GeluErf: return run<UnaryOp::GeluErf>(a, s);
    case UnaryOp::Silu: return run<UnaryOp::Silu>(a, s);
  }
  ICCRT_ASSERT(false, "unknown unary op ", static_cast<int>(op));
}

}  // namespace iccrt::kernels::cuda
