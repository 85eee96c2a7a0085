// Unary elementwise ops. Neg/Abs/Relu take every numeric dtype; the rest are floating only (the ops layer
// rejects other dtypes before calling). float16/bfloat16 compute in float. See Note [Elementwise loop].
#include <cmath>
#include <type_traits>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/elementwise_loop.hpp"

namespace iccrt::kernels::cpu {
namespace {

using detail::kParallelGrain;
// exp/erf/tanh cost tens of cycles per element, so threads pay off on smaller arrays.
constexpr int64_t kTranscendentalGrain = 4096;

// Integer negation through unsigned arithmetic: wraps (like NumPy) instead of being undefined for INT_MIN.
template <class M>
M negate(M x) {
  if constexpr (std::is_same_v<M, bool>) {
    return x;
  } else if constexpr (std::is_floating_point_v<M>) {
    return -x;
  } else {
    using U = std::make_unsigned_t<M>;
    return static_cast<M>(U(0) - static_cast<U>(x));
  }
}

template <class M>
M absolute(M x) {
  if constexpr (std::is_floating_point_v<M>) {
    return std::fabs(x);
  } else if constexpr (std::is_unsigned_v<M> || std::is_same_v<M, bool>) {
    return x;
  } else {
    return x < 0 ? negate(x) : x;
  }
}

// x < 0 rather than x > 0 so that NaN passes through, as in PyTorch.
template <class M>
M relu(M x) {
  if constexpr (std::is_unsigned_v<M> || std::is_same_v<M, bool>) {
    return x;
  } else {
    return x < M(0) ? M(0) : x;
  }
}

// exp of a non-positive argument only, so neither branch can overflow.
template <class M>
M sigmoid(M x) {
  const M e = std::exp(-std::fabs(x));
  const M r = M(1) / (M(1) + e);
  return x >= M(0) ? r : e * r;
}

template <class M>
M gelu_tanh(M x) {
  const M k = M(0.7978845608028654);  // sqrt(2/pi)
  return M(0.5) * x * (M(1) + std::tanh(k * (x + M(0.044715) * x * x * x)));
}

template <class M>
M gelu_erf(M x) {
  return M(0.5) * x * (M(1) + std::erf(x * M(0.7071067811865476)));
}

template <class F>
void all_dtypes(const ElementwiseArgs& a, int64_t grain, F make_op) {
  dispatch(a.dtype[0], [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::map<T, T>(a, grain, make_op(TypeTag<opmath_t<T>>{}));
  });
}

template <class F>
void floating_dtypes(const ElementwiseArgs& a, int64_t grain, F make_op) {
  dispatch_floating(a.dtype[0], "unary op", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::map<T, T>(a, grain, make_op(TypeTag<opmath_t<T>>{}));
  });
}

// Spells "for the opmath type M of the dtype, the lambda body": keeps the switch below one line per op.
#define ICCRT_UNARY_OP(expr) \
  [](auto mtag) {            \
    using M = typename decltype(mtag)::type; \
    return [](M x) -> M { return expr; };    \
  }

}  // namespace

void unary(UnaryOp op, const ElementwiseArgs& a) {
  const int64_t g = kTranscendentalGrain;
  switch (op) {
    case UnaryOp::Neg: return all_dtypes(a, kParallelGrain, ICCRT_UNARY_OP(negate(x)));
    case UnaryOp::Abs: return all_dtypes(a, kParallelGrain, ICCRT_UNARY_OP(absolute(x)));
    case UnaryOp::Relu: return all_dtypes(a, kParallelGrain, ICCRT_UNARY_OP(relu(x)));
    case UnaryOp::Exp: return floating_dtypes(a, g, ICCRT_UNARY_OP(std::exp(x)));
    case UnaryOp::Log: return floating_dtypes(a, g, ICCRT_UNARY_OP(std::log(x)));
    case UnaryOp::Sqrt: return floating_dtypes(a, kParallelGrain, ICCRT_UNARY_OP(std::sqrt(x)));
    case UnaryOp::Rsqrt: return floating_dtypes(a, kParallelGrain, ICCRT_UNARY_OP(M(1) / std::sqrt(x)));
    case UnaryOp::Tanh: return floating_dtypes(a, g, ICCRT_UNARY_OP(std::tanh(x)));
    case UnaryOp::Sigmoid: return floating_dtypes(a, g, ICCRT_UNARY_OP(sigmoid(x)));
    case UnaryOp::GeluTanh: return floating_dtypes(a, g, ICCRT_UNARY_OP(gelu_tanh(x)));
    case UnaryOp::GeluErf: return floating_dtypes(a, g, ICCRT_UNARY_OP(gelu_erf(x)));
    case UnaryOp::Silu: return floating_dtypes(a, g, ICCRT_UNARY_OP(x * sigmoid(x)));
  }
  ICCRT_ASSERT(false, "unknown unary op ", static_cast<int>(op));
}

#undef ICCRT_UNARY_OP

}  // namespace iccrt::kernels::cpu
