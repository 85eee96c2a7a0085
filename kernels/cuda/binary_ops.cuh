#pragma once
// The arithmetic of binary ops, shared by binary.cu (tensor op tensor) and binary_scalar.cu (tensor op scalar).
// Operands are already in the compute type (opmath_t: float for 16-bit floats, the type itself otherwise).
#include <cstdint>
#include <type_traits>

#include "kernels/common/kernel_args.hpp"
#include "kernels/cuda/numeric.cuh"

namespace iccrt::kernels::cuda::detail {

// Integer power by squaring. A negative exponent gives 0 except for bases 1 and -1 (the integer part of the
// real result), so it never divides by zero.
template <class A>
__device__ __forceinline__ A int_pow(A base, A exp) {
  if constexpr (std::is_signed_v<A>) {
    if (exp < 0) {
      if (base == 1) return 1;
      if (base == -1) return (exp & 1) ? A(-1) : A(1);
      return 0;
    }
  }
  uint64_t result = 1, b = static_cast<uint64_t>(base);  // unsigned: wraps modulo 2^N as the narrow type would
  uint64_t e = static_cast<uint64_t>(exp);
  while (e) {
    if (e & 1) result *= b;
    b *= b;
    e >>= 1;
  }
  return static_cast<A>(result);
}

// a op b in the compute type A, with the CPU kernel's rules: integer arithmetic wraps (through unsigned, where
// signed overflow would be undefined); bool computes as int and narrows back with != 0; Maximum/Minimum let a
// NaN in either operand through.
template <BinaryOp op, class A>
__device__ __forceinline__ auto binary_apply(A a, A b) {
  if constexpr (std::is_same_v<A, bool>) {
    const auto r = binary_apply<op, int>(a, b);
    if constexpr (is_comparison(op)) return r;
    else return r != 0;
  } else if constexpr (op == BinaryOp::Eq) {
    return a == b;
  } else if constexpr (op == BinaryOp::Ne) {
    return a != b;
  } else if constexpr (op == BinaryOp::Lt) {
    return a < b;
  } else if constexpr (op == BinaryOp::Le) {
    return a <= b;
  } else if constexpr (op == BinaryOp::Gt) {
    return a > b;
  } else if constexpr (op == BinaryOp::Ge) {
    return a >= b;
  } else if constexpr (op == BinaryOp::Maximum) {
    return (a > b || is_nan(a)) ? a : b;
  } else if constexpr (op == BinaryOp::Minimum) {
    return (a < b || is_nan(a)) ? a : b;
  } else if constexpr (std::is_floating_point_v<A>) {
    if constexpr (op == BinaryOp::Add) return a + b;
    else if constexpr (op == BinaryOp::Sub) return a - b;
    else if constexpr (op == BinaryOp::Mul) return a * b;
    else if constexpr (op == BinaryOp::Div) return a / b;
    else if constexpr (std::is_same_v<A, float>) return powf(a, b);
    else return pow(a, b);
  } else {
    using U = std::make_unsigned_t<A>;
    if constexpr (op == BinaryOp::Add) return static_cast<A>(static_cast<U>(a) + static_cast<U>(b));
    else if constexpr (op == BinaryOp::Sub) return static_cast<A>(static_cast<U>(a) - static_cast<U>(b));
    else if constexpr (op == BinaryOp::Mul) return static_cast<A>(static_cast<U>(a) * static_cast<U>(b));
    // The ops layer divides floats only; a stray integer division goes through double, as on the CPU, so a
    // zero divisor does not trap.
    else if constexpr (op == BinaryOp::Div) return static_cast<A>(static_cast<double>(a) / static_cast<double>(b));
    else return int_pow(a, b);
  }
}

// Storage type of the result: comparisons write bool, everything else the operands' dtype.
template <BinaryOp op, class T>
using binary_out_t = std::conditional_t<is_comparison(op), bool, T>;

// a op b on storage types, computed in opmath_t<T>.
template <BinaryOp op, class T>
__device__ __forceinline__ binary_out_t<op, T> binary_compute(opmath_t<T> a, opmath_t<T> b) {
  const auto r = binary_apply<op>(a, b);
  if constexpr (is_comparison(op)) return r;
  else return from_op<T>(r);
}

inline const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
    case BinaryOp::Pow: return "pow";
    case BinaryOp::Maximum: return "maximum";
    case BinaryOp::Minimum: return "minimum";
    case BinaryOp::Eq: return "eq";
    case BinaryOp::Ne: return "ne";
    case BinaryOp::Lt: return "lt";
    case BinaryOp::Le: return "le";
    case BinaryOp::Gt: return "gt";
    case BinaryOp::Ge: return "ge";
  }
  return "binary";
}

// Calls f(std::integral_constant<BinaryOp, op>{}) for the runtime op, so each op is its own instantiation.
template <class F>
void dispatch_binary_op(BinaryOp op, F&& f) {
  using B = BinaryOp;
  switch (op) {
    case B::Add: return f(std::integral_constant<B, B::Add>{});
    case B::Sub: return f(std::integral_constant<B, B::Sub>{});
    case B::Mul: return f(std::integral_constant<B, B::Mul>{});
    case B::Div: return f(std::integral_constant<B, B::Div>{});
    case B::Pow: return f(std::integral_constant<B, B::Pow>{});
    case B::Maximum: return f(std::integral_constant<B, B::Maximum>{});
    case B::Minimum: return f(std::integral_constant<B, B::Minimum>{});
    case B::Eq: return f(std::integral_constant<B, B::Eq>{});
    case B::Ne: return f(std::integral_constant<B, B::Ne>{});
    case B::Lt: return f(std::integral_constant<B, B::Lt>{});
    case B::Le: return f(std::integral_constant<B, B::Le>{});
    case B::Gt: return f(std::integral_constant<B, B::Gt>{});
    case B::Ge: return f(std::integral_constant<B, B::Ge>{});
  }
  ICCRT_ASSERT(false, "unknown binary op ", static_cast<int>(op));
}

}  // namespace iccrt::kernels::cuda::detail
