#pragma once
// A number passed by value to an op (t + 2, full(shape, 0.5)). Keeps integers exact beyond 2^53.
#include <cstdint>
#include <type_traits>

#include "iccrt/core/export.hpp"

namespace iccrt {

struct Scalar {
  enum class Kind : uint8_t { Int, Float, Bool } kind = Kind::Int;
  int64_t i = 0;
  double d = 0.0;

  Scalar() = default;
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Scalar(T v) : kind(Kind::Int), i(static_cast<int64_t>(v)), d(static_cast<double>(v)) {}
  template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Scalar(T v) : kind(Kind::Float), i(static_cast<int64_t>(v)), d(static_cast<double>(v)) {}
  Scalar(bool v) : kind(Kind::Bool), i(v), d(v) {}

  bool is_integral() const { return kind != Kind::Float; }
  ICCRT_HD double to_double() const { return d; }
  // The value as T; floats go through double, integers stay exact.
  template <class T>
  ICCRT_HD T to() const {
    if constexpr (std::is_integral_v<T>) {
      return kind == Kind::Float ? static_cast<T>(d) : static_cast<T>(i);
    } else {
      return static_cast<T>(kind == Kind::Float ? d : static_cast<double>(i));
    }
  }
};

}  // namespace iccrt
