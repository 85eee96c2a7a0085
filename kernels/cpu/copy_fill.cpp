// copy (with dtype conversion), fill and arange. See Note [Elementwise loop].
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/elementwise_loop.hpp"

namespace iccrt::kernels::cpu {
namespace {

using detail::kParallelGrain;

// The unsigned integer as wide as dtype `t`: same-dtype copies and fills only move bits.
template <class F>
void dispatch_bits(DType t, F&& f) {
  switch (itemsize(t)) {
    case 1: return f(TypeTag<uint8_t>{});
    case 2: return f(TypeTag<uint16_t>{});
    case 4: return f(TypeTag<uint32_t>{});
    case 8: return f(TypeTag<uint64_t>{});
    default: break;
  }
  ICCRT_ASSERT(false, "unexpected dtype ", static_cast<int>(t));
}

// x converted to the opmath type of Out, with the conversion rules of copy(): floats truncate toward zero into
// integers, anything into bool is x != 0 (NaN included), bool into a number is 0 or 1.
template <class Out, class M>
opmath_t<Out> convert(M x) {
  using OutM = opmath_t<Out>;
  if constexpr (std::is_same_v<Out, bool>) {
    return x != M(0);
  } else if constexpr (std::is_same_v<Out, uint8_t> && std::is_floating_point_v<M>) {
    // Through int64 so that negative values wrap modulo 256 (as NumPy and PyTorch do) instead of being
    // undefined behaviour.
    return static_cast<uint8_t>(static_cast<int64_t>(x));
  } else {
    return static_cast<OutM>(x);
  }
}

}  // namespace

void copy(const ElementwiseArgs& a) {
  if (a.dtype[0] == a.dtype[1]) {
    dispatch_bits(a.dtype[0], [&](auto tag) {
      using U = typename decltype(tag)::type;
      detail::map<U, U>(a, kParallelGrain, [](U x) { return x; });
    });
    return;
  }
  dispatch(a.dtype[0], [&](auto out_tag) {
    using Out = typename decltype(out_tag)::type;
    dispatch(a.dtype[1], [&](auto in_tag) {
      using In = typename decltype(in_tag)::type;
      detail::map<Out, In>(a, kParallelGrain, [](opmath_t<In> x) { return convert<Out>(x); });
    });
  });
}

void fill(const ElementwiseArgs& a, Scalar v) {
  dispatch(a.dtype[0], [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T value = v.to<T>();
    // Stored as raw bits: the loop is then the same plain store for every dtype of a size.
    dispatch_bits(a.dtype[0], [&](auto bits_tag) {
      using U = typename decltype(bits_tag)::type;
      if constexpr (sizeof(U) == sizeof(T)) {
        U bits;
        std::memcpy(&bits, &value, sizeof(U));
        detail::map<U>(a, kParallelGrain, [bits]() { return bits; });
      }
    });
  });
}

void arange(void* out, DType dtype, int64_t n, Scalar start, Scalar step) {
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = static_cast<T*>(out);
    if constexpr (is_floating(DTypeOf<T>::value)) {
      const double s0 = start.to_double(), d = step.to_double();
      detail::parallel_for(n, kParallelGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) o[i] = static_cast<T>(s0 + static_cast<double>(i) * d);
      });
    } else {
      const int64_t s0 = start.to<int64_t>(), d = step.to<int64_t>();
      detail::parallel_for(n, kParallelGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) o[i] = static_cast<T>(s0 + i * d);
      });
    }
  });
}

}  // namespace iccrt::kernels::cpu
