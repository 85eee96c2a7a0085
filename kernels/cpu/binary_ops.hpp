#pragma once
// The binary op functors, shared by the tensor-tensor and tensor-scalar kernels. The loops are split over
// binary_arith.cpp, binary_compare.cpp and binary_scalar.cpp (many op x dtype instantiations each: one file
// would dominate the build); binary.cpp holds the entry points. See Note [Elementwise loop].
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/common/kernel_args.hpp"
#include "kernels/cpu/elementwise_loop.hpp"

namespace iccrt::kernels::cpu::detail {

// Each takes the ops its file instantiates: arithmetic (Add..Minimum) or comparisons (Eq..Ge).
void binary_arith(BinaryOp op, const ElementwiseArgs& a);
void binary_compare(BinaryOp op, const ElementwiseArgs& a);
// float16/bfloat16 x op s (or s op x) with s kept in float: the one case where the scalar cannot be stored in
// x's dtype and treated as a broadcast operand.
void binary_scalar_16bit(BinaryOp op, const ElementwiseArgs& a, Scalar s, bool reversed);

// pow costs tens of cycles per element.
constexpr int64_t kPowGrain = 4096;

template <BinaryOp kOp>
using OpTag = std::integral_constant<BinaryOp, kOp>;

// Calls f(OpTag<op>{}), turning the runtime op into a template argument so each loop is specialised for it.
template <class F>
void dispatch_op(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::Add: return f(OpTag<BinaryOp::Add>{});
    case BinaryOp::Sub: return f(OpTag<BinaryOp::Sub>{});
    case BinaryOp::Mul: return f(OpTag<BinaryOp::Mul>{});
    case BinaryOp::Div: return f(OpTag<BinaryOp::Div>{});
    case BinaryOp::Pow: return f(OpTag<BinaryOp::Pow>{});
    case BinaryOp::Maximum: return f(OpTag<BinaryOp::Maximum>{});
    case BinaryOp::Minimum: return f(OpTag<BinaryOp::Minimum>{});
    case BinaryOp::Eq: return f(OpTag<BinaryOp::Eq>{});
    case BinaryOp::Ne: return f(OpTag<BinaryOp::Ne>{});
    case BinaryOp::Lt: return f(OpTag<BinaryOp::Lt>{});
    case BinaryOp::Le: return f(OpTag<BinaryOp::Le>{});
    case BinaryOp::Gt: return f(OpTag<BinaryOp::Gt>{});
    case BinaryOp::Ge: return f(OpTag<BinaryOp::Ge>{});
  }
  ICCRT_ASSERT(false, "unknown binary op ", static_cast<int>(op));
}

template <class M>
inline bool is_nan(M x) {
  if constexpr (std::is_floating_point_v<M>) {
    return x != x;
  } else {
    return false;
  }
}

// Integer power by squaring. A negative exponent gives the truncated true result (0 unless |base| == 1), the
// same as NumPy's float result cast back, rather than trapping.
template <class M>
M int_pow(M base, M exp) {
  if constexpr (std::is_signed_v<M>) {
    if (exp < 0) return base == 1 ? M(1) : base == -1 ? ((exp & 1) ? M(-1) : M(1)) : M(0);
  }
  using U = std::make_unsigned_t<M>;
  U result = 1, b = static_cast<U>(base);
  for (auto e = static_cast<std::make_unsigned_t<M>>(exp); e != 0; e >>= 1) {
    if (e & 1) result = static_cast<U>(result * b);
    b = static_cast<U>(b * b);
  }
  return static_cast<M>(result);
}

// a op b in the opmath type M. Integer arithmetic wraps (through unsigned, where signed overflow would be
// undefined); bool computes as int and narrows back with != 0.
template <BinaryOp kOp, class M>
auto apply(M a, M b) {
  if constexpr (std::is_same_v<M, bool>) {
    const auto r = apply<kOp, int>(a, b);
    if constexpr (is_comparison(kOp)) {
      return r;
    } else {
      return r != 0;
    }
  } else if constexpr (kOp == BinaryOp::Eq) {
    return a == b;
  } else if constexpr (kOp == BinaryOp::Ne) {
    return a != b;
  } else if constexpr (kOp == BinaryOp::Lt) {
    return a < b;
  } else if constexpr (kOp == BinaryOp::Le) {
    return a <= b;
  } else if constexpr (kOp == BinaryOp::Gt) {
    return a > b;
  } else if constexpr (kOp == BinaryOp::Ge) {
    return a >= b;
  } else if constexpr (kOp == BinaryOp::Maximum) {
    return (a > b || is_nan(a)) ? a : b;  // NaN in either propagates
  } else if constexpr (kOp == BinaryOp::Minimum) {
    return (a < b || is_nan(a)) ? a : b;
  } else if constexpr (std::is_floating_point_v<M>) {
    if constexpr (kOp == BinaryOp::Add) return a + b;
    if constexpr (kOp == BinaryOp::Sub) return a - b;
    if constexpr (kOp == BinaryOp::Mul) return a * b;
    if constexpr (kOp == BinaryOp::Div) return a / b;
    if constexpr (kOp == BinaryOp::Pow) return std::pow(a, b);
  } else {
    using U = std::make_unsigned_t<M>;
    if constexpr (kOp == BinaryOp::Add) return static_cast<M>(static_cast<U>(a) + static_cast<U>(b));
    if constexpr (kOp == BinaryOp::Sub) return static_cast<M>(static_cast<U>(a) - static_cast<U>(b));
    if constexpr (kOp == BinaryOp::Mul) return static_cast<M>(static_cast<U>(a) * static_cast<U>(b));
    // The ops layer only divides floats; true division truncated back keeps a stray integer call from
    // trapping on a zero divisor.
    if constexpr (kOp == BinaryOp::Div) return static_cast<M>(static_cast<double>(a) / static_cast<double>(b));
    if constexpr (kOp == BinaryOp::Pow) return int_pow(a, b);
  }
}

template <BinaryOp kOp, class T>
using out_t = std::conditional_t<is_comparison(kOp), bool, T>;

template <BinaryOp kOp>
constexpr int64_t grain_for() {
  return kOp == BinaryOp::Pow ? kPowGrain : kParallelGrain;
}

template <BinaryOp kOp, class T>
void run_binary(const ElementwiseArgs& a) {
  using M = opmath_t<T>;
  map<out_t<kOp, T>, T, T>(a, grain_for<kOp>(), [](M x, M y) { return apply<kOp>(x, y); });
}

}  // namespace iccrt::kernels::cpu::detail
