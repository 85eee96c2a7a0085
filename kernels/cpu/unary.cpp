// Unary elementwise ops. Neg/Abs/Relu take every numeric dtype; the rest are floating only (the ops layer
// rejects other dtypes before calling). float16/bfloat16 compute in float; exp, log, tanh and what is built
// on them use vec_math.hpp for float. gelu's erf stays libm's: the fast erf approximations lose accuracy where
// 1 + erf is small. See Note [Elementwise loop].
#include <cmath>
#include <type_traits>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/elementwise_loop.hpp"
#include "kernels/cpu/vec_math.hpp"

namespace iccrt::kernels::cpu {
namespace {

using detail::kParallelGrain;
using detail::v8f;
// Transcendental ops cost several times an add per element, so threads pay off on smaller arrays.
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

// exp of a non-positive argument only, so neither branch can overflow. (float64; float uses sigmoid_v.)
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

inline v8f gelu_tanh_v(v8f x) {
  const v8f k = detail::splat(0.7978845608028654f);  // sqrt(2/pi)
  const v8f inner = k * (x + detail::splat(0.044715f) * x * x * x);
  return detail::splat(0.5f) * x * (detail::splat(1.0f) + detail::tanh_v(inner));
}

template <class M>
M gelu_erf(M x) {
  return M(0.5) * x * (M(1) + std::erf(x * M(0.7071067811865476)));
}

// float32 (and the float arithmetic of float16/bfloat16) through the vector math of vec_math.hpp; float64
// through libm. Every layout of a float input goes through the same vector code, so results do not depend on
// strides.
template <class VecFn, class ScalarFn>
struct VecOp {
  VecFn vec;
  ScalarFn scalar;  // float64
  float operator()(float x) const { return detail::apply_one(x, vec); }
  double operator()(double x) const { return scalar(x); }
  void block(const float* in, float* out, int64_t n) const { detail::apply_vec(in, out, n, vec); }
};
template <class VecFn, class ScalarFn>
VecOp<VecFn, ScalarFn> vec_op(VecFn v, ScalarFn s) {
  return VecOp<VecFn, ScalarFn>{v, s};
}

template <class F>
void vec_floating(const ElementwiseArgs& a, int64_t grain, const F& op) {
  dispatch_floating(a.dtype[0], "unary op", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::map<T, T>(a, grain, op);
  });
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
    case UnaryOp::Sqrt: return floating_dtypes(a, kParallelGrain, ICCRT_UNARY_OP(std::sqrt(x)));
    case UnaryOp::Rsqrt: return floating_dtypes(a, kParallelGrain, ICCRT_UNARY_OP(M(1) / std::sqrt(x)));
    case UnaryOp::GeluErf: return floating_dtypes(a, g, ICCRT_UNARY_OP(gelu_erf(x)));
    case UnaryOp::Exp:
      return vec_floating(a, g, vec_op([](v8f x) { return detail::exp_v(x); },  //
                                       [](double x) { return std::exp(x); }));
    case UnaryOp::Log:
      return vec_floating(a, g, vec_op([](v8f x) { return detail::log_v(x); },  //
                                       [](double x) { return std::log(x); }));
    case UnaryOp::Tanh:
      return vec_floating(a, g, vec_op([](v8f x) { return detail::tanh_v(x); },  //
                                       [](double x) { return std::tanh(x); }));
    case UnaryOp::Sigmoid:
      return vec_floating(a, g, vec_op([](v8f x) { return detail::sigmoid_v(x); },  //
                                       [](double x) { return sigmoid(x); }));
    case UnaryOp::GeluTanh:
      return vec_floating(a, g, vec_op([](v8f x) { return gelu_tanh_v(x); },  //
                                       [](double x) { return gelu_tanh(x); }));
    case UnaryOp::Silu:
      return vec_floating(a, g, vec_op([](v8f x) { return x * detail::sigmoid_v(x); },  //
                                       [](double x) { return x * sigmoid(x); }));
  }
  ICCRT_ASSERT(false, "unknown unary op ", static_cast<int>(op));
}

#undef ICCRT_UNARY_OP

}  // namespace iccrt::kernels::cpu
