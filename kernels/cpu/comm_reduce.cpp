// Reductions for collectives (see comm_reduce.hpp). Every call is one contiguous pass over a chunk that a
// collective is moving, so these are written for the memory bus: plain loops over restrict pointers that the
// compiler vectorises, no OpenMP (the collectives call them per chunk, often from several ranks at once).
//
// float16 / bfloat16 go through float blocks (half_block.hpp) that stay in L1: converting per element would
// stop vectorisation. comm_reduce_n keeps one float accumulator block across all sources and rounds once.
#include "kernels/cpu/comm_reduce.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "iccrt/core/dtype.hpp"
#include "iccrt/core/error.hpp"
#include "kernels/cpu/half_block.hpp"

namespace iccrt::kernels::cpu {
namespace {

using comm::ReduceOp;
using detail::from_float;
using detail::is_half_like;
using detail::kBlock;
using detail::to_float;

template <ReduceOp kOp>
struct OpTag {
  static constexpr ReduceOp value_op = kOp;
};

// Avg folds as Sum: the caller divides once at the end.
template <class F>
void dispatch_op(ReduceOp op, F&& f) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Avg:
      return f(OpTag<ReduceOp::Sum>{});
    case ReduceOp::Prod:
      return f(OpTag<ReduceOp::Prod>{});
    case ReduceOp::Min:
      return f(OpTag<ReduceOp::Min>{});
    case ReduceOp::Max:
      return f(OpTag<ReduceOp::Max>{});
  }
  ICCRT_ASSERT(false, "unknown ReduceOp ", static_cast<int>(op));
}

// One element. Integers add and multiply as unsigned so that overflow wraps (two's complement) instead of
// being undefined behaviour the optimiser may exploit. For floats, `a < b ? a : b` already yields b when b is
// NaN; the outer select makes a NaN in `a` win too. Written as selects (not std::fmin, which drops NaN, nor
// branches), so the loops below vectorise to compare + blend.
template <ReduceOp kOp, class T>
inline T combine(T a, T b) {
  if constexpr (kOp == ReduceOp::Sum || kOp == ReduceOp::Prod) {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      const U r = kOp == ReduceOp::Sum ? static_cast<U>(static_cast<U>(a) + static_cast<U>(b))
                                       : static_cast<U>(static_cast<U>(a) * static_cast<U>(b));
      return static_cast<T>(r);
    } else {
      return kOp == ReduceOp::Sum ? a + b : a * b;
    }
  } else {
    const T m = kOp == ReduceOp::Min ? (a < b ? a : b) : (a > b ? a : b);
    if constexpr (std::is_floating_point_v<T>) {
      return a != a ? a : m;
    } else {
      return m;
    }
  }
}

// d[i] = op(d[i], s[i]), or op(s[i], d[i]) when kSwap (keeps the caller's operand order when dst aliases the
// second operand; it matters only for which NaN payload or signed zero survives).
template <ReduceOp kOp, bool kSwap, class T>
void fold(T* __restrict d, const T* __restrict s, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = kSwap ? combine<kOp>(s[i], d[i]) : combine<kOp>(d[i], s[i]);
}

template <ReduceOp kOp, class T>
void fold3(T* __restrict d, const T* __restrict a, const T* __restrict b, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = combine<kOp>(a[i], b[i]);
}

// dst = op(a, b) for types computed in themselves. The aliased cases get their own two-pointer loops: with
// three pointers the compiler would version the loop on an overlap check, and dst == a fails that check.
template <ReduceOp kOp, class T>
void reduce2_native(T* dst, const T* a, const T* b, size_t n) {
  if (dst == a) {
    fold<kOp, false>(dst, b, n);
  } else if (dst == b) {
    fold<kOp, true>(dst, a, n);
  } else {
    fold3<kOp>(dst, a, b, n);
  }
}

// 16-bit floats: convert a block of each operand, combine in float, round once per element. Reading both
// blocks before writing makes any aliasing of dst with a or b safe.
template <ReduceOp kOp, class H>
void reduce2_half(H* dst, const H* a, const H* b, size_t n) {
  alignas(64) float fa[kBlock];
  alignas(64) float fb[kBlock];
  for (size_t i = 0; i < n; i += kBlock) {
    const int64_t m = static_cast<int64_t>(std::min<size_t>(kBlock, n - i));
    to_float(a + i, fa, m);
    to_float(b + i, fb, m);
    fold<kOp, false>(fa, fb, static_cast<size_t>(m));
    from_float(fa, dst + i, m);
  }
}

// op over nsrc sources, a block at a time into an accumulator that stays in L1; dst is written only after
// every source's block was read, so dst may be one of the sources.
template <ReduceOp kOp, class T>
void reduce_n_blocked(T* dst, const T* const* srcs, int nsrc, size_t n) {
  using Acc = std::conditional_t<is_half_like<T>, float, T>;
  alignas(64) Acc acc[kBlock];
  alignas(64) Acc tmp[is_half_like<T> ? kBlock : 1];
  for (size_t i = 0; i < n; i += kBlock) {
    const size_t m = std::min<size_t>(kBlock, n - i);
    if constexpr (is_half_like<T>) {
      to_float(srcs[0] + i, acc, static_cast<int64_t>(m));
      for (int s = 1; s < nsrc; ++s) {
        to_float(srcs[s] + i, tmp, static_cast<int64_t>(m));
        fold<kOp, false>(acc, tmp, m);
      }
      from_float(acc, dst + i, static_cast<int64_t>(m));
    } else {
      (void)tmp;
      fold3<kOp>(acc, srcs[0] + i, srcs[1] + i, m);
      for (int s = 2; s < nsrc; ++s) fold<kOp, false>(acc, srcs[s] + i, m);
      std::memcpy(dst + i, acc, m * sizeof(T));
    }
  }
}

// Calls f(TypeTag<T>{}) for the dtypes collectives reduce; the check comes first so dispatch never sees
// uint8 / bool.
template <class F>
void dispatch_reducible(DType dtype, ReduceOp op, F&& f) {
  comm_check_reducible(dtype, op);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, bool>) {
      ICCRT_ASSERT(false, "comm_check_reducible let ", dtype_name(dtype), " through");
    } else {
      f(tag);
    }
  });
}

}  // namespace

void comm_check_reducible(DType dtype, comm::ReduceOp op) {
  ICCRT_CHECK_DTYPE(is_floating(dtype) || dtype == DType::Int32 || dtype == DType::Int64,
                    "collective reductions support float32, float64, float16, bfloat16, int32 and int64, got ",
                    dtype_name(dtype));
  ICCRT_CHECK_DTYPE(op != ReduceOp::Avg || is_floating(dtype),
                    "ReduceOp avg needs a floating dtype (an integer mean would truncate), got ", dtype_name(dtype));
}

void comm_reduce2(void* dst, const void* a, const void* b, size_t n, DType dtype, comm::ReduceOp op) {
  dispatch_reducible(dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (n == 0) return;
    dispatch_op(op, [&](auto optag) {
      constexpr ReduceOp kOp = decltype(optag)::value_op;
      auto* d = static_cast<T*>(dst);
      const auto* pa = static_cast<const T*>(a);
      const auto* pb = static_cast<const T*>(b);
      if constexpr (is_half_like<T>) {
        reduce2_half<kOp>(d, pa, pb, n);
      } else {
        reduce2_native<kOp>(d, pa, pb, n);
      }
    });
  });
}

void comm_reduce_into(void* dst, const void* src, size_t n, DType dtype, comm::ReduceOp op) {
  comm_reduce2(dst, dst, src, n, dtype, op);
}

void comm_reduce_n(void* dst, const void* const* srcs, int nsrc, size_t n, DType dtype, comm::ReduceOp op) {
  ICCRT_CHECK_VALUE(nsrc >= 1, "comm_reduce_n needs at least one source, got ", nsrc);
  dispatch_reducible(dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (n == 0) return;
    auto* d = static_cast<T*>(dst);
    const auto* const* s = reinterpret_cast<const T* const*>(srcs);
    if (nsrc == 1) {
      if (d != s[0]) std::memmove(d, s[0], n * sizeof(T));
      return;
    }
    dispatch_op(op, [&](auto optag) {
      constexpr ReduceOp kOp = decltype(optag)::value_op;
      // Two native sources need no accumulator: the two-operand kernel is one pass with no copy.
      if constexpr (!is_half_like<T>) {
        if (nsrc == 2) return reduce2_native<kOp>(d, s[0], s[1], n);
      }
      reduce_n_blocked<kOp>(d, s, nsrc, n);
    });
  });
}

void comm_scale_avg(void* buf, size_t n, DType dtype, int divisor) {
  ICCRT_CHECK_DTYPE(is_floating(dtype), "ReduceOp avg needs a floating dtype, got ", dtype_name(dtype));
  ICCRT_CHECK_VALUE(divisor > 0, "avg divisor must be positive, got ", divisor);
  dispatch_floating(dtype, "comm_scale_avg", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* p = static_cast<T*>(buf);
    if constexpr (is_half_like<T>) {
      alignas(64) float f[kBlock];
      const float dv = static_cast<float>(divisor);
      for (size_t i = 0; i < n; i += kBlock) {
        const int64_t m = static_cast<int64_t>(std::min<size_t>(kBlock, n - i));
        to_float(p + i, f, m);
        for (int64_t j = 0; j < m; ++j) f[j] /= dv;
        from_float(f, p + i, m);
      }
    } else {
      // A true division, not a multiply by 1/divisor: correctly rounded, and the loop is memory-bound anyway.
      const T dv = static_cast<T>(divisor);
      for (size_t i = 0; i < n; ++i) p[i] /= dv;
    }
  });
}

}  // namespace iccrt::kernels::cpu
