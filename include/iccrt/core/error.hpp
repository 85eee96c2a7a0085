#pragma once
// Errors. User errors are raised with ICCRT_CHECK_* (typed, mapped one to one onto Python exceptions);
// internal bugs with ICCRT_ASSERT. Messages are built only when a check fails.
//
//   C++ type          Python exception
//   Error             RuntimeError
//   ValueError        ValueError
//   ShapeError        ValueError      (shapes that do not match or cannot broadcast)
//   DTypeError        TypeError
//   DeviceError       RuntimeError
//   IndexError        IndexError
//   NotImplemented    NotImplementedError
//   InternalError     RuntimeError    (a bug in iccrt: please report)
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "iccrt/core/export.hpp"

namespace iccrt {

class ICCRT_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class ICCRT_API ValueError : public Error {
 public:
  using Error::Error;
};
class ICCRT_API ShapeError : public ValueError {
 public:
  using ValueError::ValueError;
};
class ICCRT_API DTypeError : public Error {
 public:
  using Error::Error;
};
class ICCRT_API DeviceError : public Error {
 public:
  using Error::Error;
};
class ICCRT_API IndexError : public Error {
 public:
  using Error::Error;
};
class ICCRT_API NotImplemented : public Error {
 public:
  using Error::Error;
};
class ICCRT_API InternalError : public Error {
 public:
  using Error::Error;
};

namespace detail {

template <class T>
void append(std::ostringstream& os, const T& v) {
  os << v;
}
inline void append(std::ostringstream& os, const std::vector<int64_t>& v) {
  os << '[';
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << ']';
}
inline void append(std::ostringstream& os, bool v) { os << (v ? "true" : "false"); }

template <class... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  (append(os, args), ...);
  return os.str();
}

template <class E>
[[noreturn]] void throw_error(std::string msg) {
  throw E(std::move(msg));
}
[[noreturn]] ICCRT_API void throw_internal(const char* file, int line, const char* cond, const std::string& msg);

}  // namespace detail
}  // namespace iccrt

#define ICCRT_LIKELY(x) __builtin_expect(!!(x), 1)

#define ICCRT_CHECK_T(ExcType, cond, ...)                                        \
  do {                                                                           \
    if (!ICCRT_LIKELY(cond)) {                                                   \
      ::iccrt::detail::throw_error<ExcType>(::iccrt::detail::str(__VA_ARGS__)); \
    }                                                                            \
  } while (0)

#define ICCRT_CHECK(cond, ...) ICCRT_CHECK_T(::iccrt::Error, cond, __VA_ARGS__)
#define ICCRT_CHECK_VALUE(cond, ...) ICCRT_CHECK_T(::iccrt::ValueError, cond, __VA_ARGS__)
#define ICCRT_CHECK_SHAPE(cond, ...) ICCRT_CHECK_T(::iccrt::ShapeError, cond, __VA_ARGS__)
#define ICCRT_CHECK_DTYPE(cond, ...) ICCRT_CHECK_T(::iccrt::DTypeError, cond, __VA_ARGS__)
#define ICCRT_CHECK_DEVICE(cond, ...) ICCRT_CHECK_T(::iccrt::DeviceError, cond, __VA_ARGS__)
#define ICCRT_CHECK_INDEX(cond, ...) ICCRT_CHECK_T(::iccrt::IndexError, cond, __VA_ARGS__)

#define ICCRT_ASSERT(cond, ...)                                                                  \
  do {                                                                                           \
    if (!ICCRT_LIKELY(cond)) {                                                                   \
      ::iccrt::detail::throw_internal(__FILE__, __LINE__, #cond, ::iccrt::detail::str(__VA_ARGS__)); \
    }                                                                                            \
  } while (0)
