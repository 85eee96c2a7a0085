#pragma once
// Helpers shared by the C++ tests: random inputs rounded to a dtype, a host read of any CPU tensor that walks its
// strides directly (so references never go through the code under test), float64 reference comparison with
// per-dtype tolerances.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "iccrt/core/dtype.hpp"
#include "iccrt/core/half.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt {
// gtest prints values through PrintTo when it finds one; keeps failure messages readable.
inline void PrintTo(DType t, std::ostream* os) { *os << dtype_name(t); }
}  // namespace iccrt

namespace iccrt::test {

inline const std::vector<DType>& all_dtypes() {
  static const std::vector<DType> v = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16,
                                       DType::Int32,   DType::Int64,   DType::UInt8,   DType::Bool};
  return v;
}
inline const std::vector<DType>& floating_dtypes() {
  static const std::vector<DType> v = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  return v;
}
inline const std::vector<DType>& integer_dtypes() {  // signed and unsigned, not bool
  static const std::vector<DType> v = {DType::Int32, DType::Int64, DType::UInt8};
  return v;
}

// `v` as the dtype stores it (v is assumed to be exactly representable in float for the 16-bit types, so the
// double -> float -> 16-bit path rounds only once).
inline double round_to(DType t, double v) {
  switch (t) {
    case DType::Float64:
      return v;
    case DType::Float32:
      return static_cast<double>(static_cast<float>(v));
    case DType::Float16:
      return static_cast<double>(static_cast<float>(Half(static_cast<float>(v))));
    case DType::BFloat16:
      return static_cast<double>(static_cast<float>(BFloat16(static_cast<float>(v))));
    case DType::Int32:
      return static_cast<double>(static_cast<int32_t>(v));
    case DType::Int64:
      return static_cast<double>(static_cast<int64_t>(v));
    case DType::UInt8:
      return static_cast<double>(static_cast<uint8_t>(v));
    case DType::Bool:
      return v != 0.0 ? 1.0 : 0.0;
  }
  return v;
}

// n values uniform in [lo, hi) (floating dtypes; made float-representable, then rounded to `t`) or uniform
// integers in [lo, hi] (integer dtypes; bool draws 0/1).
inline std::vector<double> random_values(int64_t n, DType t, double lo, double hi, std::mt19937& rng) {
  std::vector<double> v(static_cast<size_t>(n));
  if (is_floating(t)) {
    std::uniform_real_distribution<double> d(lo, hi);
    for (auto& x : v) x = round_to(t, static_cast<double>(static_cast<float>(d(rng))));
  } else if (t == DType::Bool) {
    std::uniform_int_distribution<int> d(0, 1);
    for (auto& x : v) x = d(rng);
  } else {
    std::uniform_int_distribution<int64_t> d(static_cast<int64_t>(lo), static_cast<int64_t>(hi));
    for (auto& x : v) x = static_cast<double>(d(rng));
  }
  return v;
}

inline int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// Calls f(index) for every index of `shape` in row-major order (once for a 0-d shape, never for a size-0 one).
template <class F>
void for_each_index(const Shape& shape, F&& f) {
  if (numel_of(shape) == 0) return;
  std::vector<int64_t> idx(shape.size(), 0);
  while (true) {
    f(static_cast<const std::vector<int64_t>&>(idx));
    int64_t d = static_cast<int64_t>(shape.size()) - 1;
    for (; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

template <class T>
double as_double(T v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return static_cast<double>(static_cast<float>(v));
  } else {
    return static_cast<double>(v);
  }
}

// The logical values of a CPU tensor in row-major order, read through its strides and offset.
inline std::vector<double> to_host(const Tensor& t) {
  const int64_t n = numel_of(t.shape());
  std::vector<double> out(static_cast<size_t>(n));
  if (n == 0) return out;
  dispatch(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* base = static_cast<const T*>(t.data_ptr());
    const Shape& shape = t.shape();
    const Shape& st = t.strides();
    const int64_t nd = static_cast<int64_t>(shape.size());
    if (nd == 0) {
      out[0] = as_double(base[0]);
      return;
    }
    // Odometer over the outer dims, a strided loop over the innermost.
    std::vector<int64_t> idx(static_cast<size_t>(nd), 0);
    const int64_t inner = shape[nd - 1], inner_st = st[nd - 1];
    size_t o = 0;
    while (true) {
      int64_t off = 0;
      for (int64_t d = 0; d < nd - 1; ++d) off += idx[d] * st[d];
      const T* p = base + off;
      for (int64_t i = 0; i < inner; ++i) out[o++] = as_double(p[i * inner_st]);
      int64_t d = nd - 2;
      for (; d >= 0; --d) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
      if (d < 0) break;
    }
  });
  return out;
}

inline Tensor make(const std::vector<double>& values, const Shape& shape, DType t) {
  return from_vector(values, shape, TensorOptions(t));
}

// A tensor of `shape` and dtype `t` with random values (see random_values); the values are returned in `vals`.
inline Tensor random_tensor(const Shape& shape, DType t, double lo, double hi, std::mt19937& rng,
                            std::vector<double>* vals = nullptr) {
  auto v = random_values(numel_of(shape), t, lo, hi, rng);
  Tensor x = make(v, shape, t);
  if (vals) *vals = std::move(v);
  return x;
}

// Unit roundoff of a dtype's results.
inline double eps_of(DType t) {
  switch (t) {
    case DType::Float64:
      return 1.1e-16;
    case DType::Float32:
      return 6e-8;
    case DType::Float16:
      return 4.9e-4;
    default:
      return 3.9e-3;  // bfloat16
  }
}

// The spacing of a dtype's smallest (subnormal) values: float16 cannot round closer than this to 0.
inline double tiny_of(DType t) { return t == DType::Float16 ? 5.97e-8 : 1e-300; }

// Per-element bound k * eps * scale[i], for results whose error is proportional to the size of the terms that
// produced them (scale) rather than to the result itself.
inline std::vector<double> bound(DType t, const std::vector<double>& scale, double k = 8.0) {
  std::vector<double> a(scale.size());
  for (size_t i = 0; i < scale.size(); ++i) a[i] = k * eps_of(t) * scale[i] + tiny_of(t);
  return a;
}

struct Tol {
  double rtol, atol;
};
// Tolerance of a result rounded to dtype t against a float64 reference computed from the rounded inputs.
inline Tol default_tol(DType t) {
  switch (t) {
    case DType::Float64:
      return {1e-12, 1e-13};
    case DType::Float32:
      return {1e-5, 1e-6};
    case DType::Float16:
      return {1e-3, 1e-5};
    case DType::BFloat16:
      return {1e-2, 1e-5};
    default:
      return {0.0, 0.0};  // integers and bool: exact
  }
}

inline std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

// Compares element i of `got` (row-major logical order) with ref[i] within atol[i] (or tol when atol is empty):
// |got - ref| <= tol.atol + tol.rtol * |ref|; NaN must meet NaN, infinities must match exactly.
inline ::testing::AssertionResult close_to(const Tensor& got, const Shape& shape, const std::vector<double>& ref,
                                           Tol tol, const std::vector<double>& per_elem_atol = {}) {
  if (!got.defined()) return ::testing::AssertionFailure() << "result is undefined";
  if (got.shape() != shape)
    return ::testing::AssertionFailure() << "shape " << shape_str(got.shape()) << ", expected " << shape_str(shape);
  const auto g = to_host(got);
  if (g.size() != ref.size())
    return ::testing::AssertionFailure() << g.size() << " elements, reference has " << ref.size();
  int64_t bad = 0;
  std::ostringstream msg;
  for (size_t i = 0; i < g.size(); ++i) {
    const double r = ref[i], x = g[i];
    bool ok;
    if (std::isnan(r)) {
      ok = std::isnan(x);
    } else if (std::isinf(r)) {
      ok = x == r;
    } else {
      const double a = per_elem_atol.empty() ? tol.atol : per_elem_atol[i];
      ok = std::isfinite(x) && std::fabs(x - r) <= a + tol.rtol * std::fabs(r);
    }
    if (!ok) {
      if (bad < 5) msg << "\n  [" << i << "] got " << x << " expected " << r;
      ++bad;
    }
  }
  if (bad) {
    return ::testing::AssertionFailure() << bad << " of " << g.size() << " elements differ (dtype "
                                         << dtype_name(got.dtype()) << ", rtol " << tol.rtol << ", atol " << tol.atol
                                         << "):" << msg.str();
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult equals(const Tensor& got, const Shape& shape, const std::vector<double>& ref) {
  return close_to(got, shape, ref, Tol{0.0, 0.0});
}

// Row-major strides (in elements) for a shape, computed here rather than by the library.
inline Shape row_major_strides(const Shape& s) {
  Shape st(s.size(), 1);
  for (int64_t d = static_cast<int64_t>(s.size()) - 2; d >= 0; --d) st[d] = st[d + 1] * std::max<int64_t>(s[d + 1], 1);
  return st;
}

// NumPy broadcast of two shapes (reference for the tests; assumes they broadcast).
inline Shape broadcast_ref(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Flat row-major index into `shape` of output index `idx` (of a possibly larger broadcast shape).
inline int64_t broadcast_flat(const Shape& shape, const std::vector<int64_t>& idx) {
  const size_t off = idx.size() - shape.size();
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + (shape[d] == 1 ? 0 : idx[d + off]);
  return flat;
}

}  // namespace iccrt::test
