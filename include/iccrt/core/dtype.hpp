#pragma once
// Element types and the dispatch helper that turns a runtime DType into a C++ type.
#include <cstdint>
#include <string>

#include "iccrt/core/error.hpp"
#include "iccrt/core/half.hpp"

namespace iccrt {

enum class DType : uint8_t { Float32, Float64, Float16, BFloat16, Int32, Int64, UInt8, Bool };
constexpr int kNumDTypes = 8;

ICCRT_HD constexpr int64_t itemsize(DType t) {
  switch (t) {
    case DType::Float64:
    case DType::Int64: return 8;
    case DType::Float32:
    case DType::Int32: return 4;
    case DType::Float16:
    case DType::BFloat16: return 2;
    case DType::UInt8:
    case DType::Bool: return 1;
  }
  return 0;
}
ICCRT_HD constexpr bool is_floating(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::Float16 || t == DType::BFloat16;
}
ICCRT_HD constexpr bool is_integral(DType t) {  // bool excluded
  return t == DType::Int32 || t == DType::Int64 || t == DType::UInt8;
}
ICCRT_API const char* dtype_name(DType t);                 // "float32", "bfloat16", ...
ICCRT_API DType dtype_from_name(const std::string& name);  // accepts "float32"/"float"/"fp32", ...; ValueError
ICCRT_API std::ostream& operator<<(std::ostream& os, DType t);

template <class T>
struct TypeTag {
  using type = T;
};

// Maps a C++ element type to its DType.
template <class T>
struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::Float32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::Float64; };
template <> struct DTypeOf<Half> { static constexpr DType value = DType::Float16; };
template <> struct DTypeOf<BFloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::Bool; };

// The type arithmetic happens in: 16-bit floats compute in float, everything else in itself.
template <class T> struct OpMath { using type = T; };
template <> struct OpMath<Half> { using type = float; };
template <> struct OpMath<BFloat16> { using type = float; };
template <class T> using opmath_t = typename OpMath<T>::type;

// Calls f(TypeTag<T>{}) for the C++ type T of `t`. Usage:
//   dispatch(t, [&](auto tag) { using T = typename decltype(tag)::type; ... });
template <class F>
decltype(auto) dispatch(DType t, F&& f) {
  switch (t) {
    case DType::Float32: return f(TypeTag<float>{});
    case DType::Float64: return f(TypeTag<double>{});
    case DType::Float16: return f(TypeTag<Half>{});
    case DType::BFloat16: return f(TypeTag<BFloat16>{});
    case DType::Int32: return f(TypeTag<int32_t>{});
    case DType::Int64: return f(TypeTag<int64_t>{});
    case DType::UInt8: return f(TypeTag<uint8_t>{});
    case DType::Bool: return f(TypeTag<bool>{});
  }
  ICCRT_ASSERT(false, "unknown dtype ", static_cast<int>(t));
}

// Same, restricted to floating types; any other dtype raises DTypeError naming `what`.
template <class F>
decltype(auto) dispatch_floating(DType t, const char* what, F&& f) {
  switch (t) {
    case DType::Float32: return f(TypeTag<float>{});
    case DType::Float64: return f(TypeTag<double>{});
    case DType::Float16: return f(TypeTag<Half>{});
    case DType::BFloat16: return f(TypeTag<BFloat16>{});
    default: break;
  }
  ICCRT_CHECK_DTYPE(false, what, " expects a floating dtype (float32, float64, float16, bfloat16) but got ",
                    dtype_name(t));
}

}  // namespace iccrt
