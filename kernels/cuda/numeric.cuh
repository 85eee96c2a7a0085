#pragma once
// Device-side conversions between storage types and the types arithmetic happens in (opmath_t), and the
// dtype-to-dtype cast that copy() and the reductions' stores share. 16-bit floats convert with the hardware
// round-to-nearest-even instructions, which give the same bits as the portable code in half.hpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "iccrt/core/dtype.hpp"
#include "iccrt/core/half.hpp"

namespace iccrt::kernels::cuda::detail {

template <class T>
__device__ __forceinline__ opmath_t<T> to_op(T v) {
  if constexpr (std::is_same_v<T, Half>) {
    return __half2float(__ushort_as_half(v.bits));
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    return __bfloat162float(__ushort_as_bfloat16(v.bits));
  } else {
    return v;
  }
}

template <class T>
__device__ __forceinline__ T from_op(opmath_t<T> v) {
  if constexpr (std::is_same_v<T, Half>) {
    return Half::from_bits(__half_as_ushort(__float2half_rn(v)));
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    return BFloat16::from_bits(__bfloat16_as_ushort(__float2bfloat16_rn(v)));
  } else {
    return v;
  }
}

template <class T>
inline constexpr bool is_float_v = std::is_floating_point_v<T> || std::is_same_v<T, Half> ||
                                   std::is_same_v<T, BFloat16>;

// Any dtype to any dtype, as the CPU kernels do it: floats to integers truncate toward zero, anything to bool
// is `!= 0`, bool to a number is 0/1. Floats go to uint8 through int64 so that negative values wrap the way
// they do on x86 (a direct float->uint8 conversion saturates on the GPU).
template <class To, class From>
__device__ __forceinline__ To cast(From x) {
  if constexpr (std::is_same_v<To, From>) {
    return x;
  } else {
    const auto v = to_op(x);
    using V = decltype(v);
    if constexpr (std::is_same_v<To, bool>) {
      return v != V(0);
    } else if constexpr (std::is_same_v<To, Half> || std::is_same_v<To, BFloat16>) {
      return from_op<To>(static_cast<float>(v));
    } else if constexpr (std::is_same_v<To, uint8_t> && std::is_floating_point_v<V>) {
      return static_cast<uint8_t>(static_cast<int64_t>(v));
    } else {
      return static_cast<To>(v);
    }
  }
}

// NaN test that folds to false for integer types.
template <class T>
__device__ __forceinline__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return v != v;
  } else {
    return false;
  }
}

// Writes `v` as dtype `t` at element offset `off` of `base`. A runtime switch rather than a template parameter:
// reductions store once per output, and this keeps the out_dtype out of the kernel instantiations.
template <class V>
__device__ __forceinline__ void store_as(char* base, int64_t off, DType t, V v) {
  switch (t) {
    case DType::Float32: reinterpret_cast<float*>(base)[off] = cast<float>(v); break;
    case DType::Float64: reinterpret_cast<double*>(base)[off] = cast<double>(v); break;
    case DType::Float16: reinterpret_cast<Half*>(base)[off] = cast<Half>(v); break;
    case DType::BFloat16: reinterpret_cast<BFloat16*>(base)[off] = cast<BFloat16>(v); break;
    case DType::Int32: reinterpret_cast<int32_t*>(base)[off] = cast<int32_t>(v); break;
    case DType::Int64: reinterpret_cast<int64_t*>(base)[off] = cast<int64_t>(v); break;
    case DType::UInt8: reinterpret_cast<uint8_t*>(base)[off] = cast<uint8_t>(v); break;
    case DType::Bool: reinterpret_cast<bool*>(base)[off] = cast<bool>(v); break;
  }
}

// Unsigned integer of the same size as T: where() and fill() only move bits, so they dispatch on size.
template <int kBytes>
struct BitsOf;
template <> struct BitsOf<1> { using type = uint8_t; };
template <> struct BitsOf<2> { using type = uint16_t; };
template <> struct BitsOf<4> { using type = uint32_t; };
template <> struct BitsOf<8> { using type = uint64_t; };

// Calls f(TypeTag<uintN_t>{}) for the element size of `t`.
template <class F>
void dispatch_bits(DType t, F&& f) {
  switch (itemsize(t)) {
    case 1: f(TypeTag<uint8_t>{}); return;
    case 2: f(TypeTag<uint16_t>{}); return;
    case 4: f(TypeTag<uint32_t>{}); return;
    case 8: f(TypeTag<uint64_t>{}); return;
  }
  ICCRT_ASSERT(false, "unexpected item size for dtype ", static_cast<int>(t));
}

}  // namespace iccrt::kernels::cuda::detail
