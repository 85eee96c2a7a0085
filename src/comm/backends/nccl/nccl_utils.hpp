#pragma once
// Small helpers of the NCCL backend: dtype / op mapping with iccrt's errors, NCCL and CUDA error text, NCCL's
// version encoding, and the scoped NCCL_ALGO setting. Included only by nccl_backend.cpp (CUDA builds).
#include <cuda_runtime.h>
#include <nccl.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "iccrt/comm/types.hpp"
#include "iccrt/core/dtype.hpp"
#include "iccrt/core/error.hpp"

namespace iccrt::comm::detail {

// The NCCL type that moves `dtype`'s bytes. Bool travels as uint8 for ops that only move data (all_gather,
// broadcast, all_to_all, send/recv); reducing ops reject it first (check_reducible).
inline ncclDataType_t nccl_dtype(DType dtype, const char* what) {
  switch (dtype) {
    case DType::Float32:
      return ncclFloat32;
    case DType::Float64:
      return ncclFloat64;
    case DType::Float16:
      return ncclFloat16;
    case DType::BFloat16:
      return ncclBfloat16;
    case DType::Int32:
      return ncclInt32;
    case DType::Int64:
      return ncclInt64;
    case DType::UInt8:
    case DType::Bool:
      return ncclUint8;
  }
  ICCRT_CHECK_DTYPE(false, what, ": NCCL cannot carry dtype ", static_cast<int>(dtype));
  return ncclUint8;  // unreachable
}

// Raises DTypeError when NCCL must not reduce `dtype` with `op`: nothing reduces bool, and Avg is defined for
// floating dtypes only (types.hpp), as on the CPU path, although NCCL would divide integers.
inline void check_reducible(DType dtype, ReduceOp op, const char* what) {
  ICCRT_CHECK_DTYPE(dtype != DType::Bool, what, ": cannot reduce bool tensors (", to_string(op),
                    "); NCCL reductions take float32, float64, float16, bfloat16, int32, int64, uint8");
  ICCRT_CHECK_DTYPE(op != ReduceOp::Avg || is_floating(dtype), what,
                    ": avg needs a floating dtype (float32, float64, float16, bfloat16) but got ", dtype_name(dtype));
}

inline ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return ncclSum;
    case ReduceOp::Prod:
      return ncclProd;
    case ReduceOp::Min:
      return ncclMin;
    case ReduceOp::Max:
      return ncclMax;
    case ReduceOp::Avg:
      return ncclAvg;  // NCCL >= 2.10: sum, then divide by the rank count
  }
  ICCRT_CHECK_VALUE(false, "unknown reduce op ", static_cast<int>(op));
  return ncclSum;  // unreachable
}

// "unhandled system error (ncclSystemError): <NCCL's last message>" — the last message says what failed.
inline std::string nccl_error_text(ncclResult_t r, ncclComm_t comm) {
  std::string s = ncclGetErrorString(r);
  s += " (ncclResult ";
  s += std::to_string(static_cast<int>(r));
  s += ")";
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && last[0] != '\0') {
    s += ": ";
    s += last;
  }
  return s;
}

// Names a CUDA error and clears it if it is not sticky, so later unrelated checks do not report it again.
inline std::string cuda_error_text(cudaError_t e) {
  (void)cudaGetLastError();
  return std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")";
}

// "2.28.9" from ncclGetVersion's code: 10000 * major + 100 * minor + patch since 2.9, 1000 * major + 100 * minor
// + patch before.
inline std::string nccl_version_string(int code) {
  const int major = code >= 10000 ? code / 10000 : code / 1000;
  const int rest = code >= 10000 ? code % 10000 : code % 1000;
  return std::to_string(major) + "." + std::to_string(rest / 100) + "." + std::to_string(rest % 100);
}

// ---- Note [NCCL_ALGO per communicator] ----
// NCCL reads NCCL_ALGO while it initialises a communicator, and with a non-blocking init that happens on NCCL's
// own thread until the init settles. So the variable is set for the whole creation of a ring / tree communicator
// and restored after. Creations that need the same value (ranks as threads of one process creating their ring
// communicators together) may overlap; one that needs another value (or the untouched environment: auto) waits
// until the others are done, bounded by its deadline. If the user set NCCL_ALGO, iccrt never touches it and
// every op uses the auto communicator (noted once on stderr).
class AlgoEnv {
 public:
  static AlgoEnv& instance() {
    static AlgoEnv env;  // constructed (and the user's NCCL_ALGO read) before iccrt ever sets the variable
    return env;
  }
  bool user_set() const { return !user_value_.empty(); }
  const std::string& user_value() const { return user_value_; }

  // Holds NCCL_ALGO at `value` ("" = the process's own environment) until release(). CommTimeout if the
  // variable stays held at another value past `deadline`.
  void acquire(const std::string& value, std::chrono::steady_clock::time_point deadline, const std::string& what) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool ok = cv_.wait_until(lock, deadline, [&] { return holders_ == 0 || value_ == value; });
    if (!ok) {
      throw CommTimeout(what +
                        ": timed out waiting for another NCCL communicator of this process to finish its "
                        "creation (NCCL_ALGO is set per communicator; ICCRT_TIMEOUT sets the limit)");
    }
    if (holders_ == 0 && !value.empty() && setenv("NCCL_ALGO", value.c_str(), 1) != 0) {
      throw CommError(what + ": cannot set NCCL_ALGO=" + value + ": " + std::strerror(errno));
    }
    value_ = value;
    ++holders_;
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--holders_ == 0) {
        if (!value_.empty()) (void)unsetenv("NCCL_ALGO");  // only ever set when the user had not set it
        value_.clear();
      }
    }
    cv_.notify_all();
  }

 private:
  AlgoEnv() {
    const char* v = std::getenv("NCCL_ALGO");
    if (v != nullptr) user_value_ = v;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  int holders_ = 0;
  std::string value_;
  std::string user_value_;
};

class AlgoEnvScope {
 public:
  AlgoEnvScope(const std::string& value, std::chrono::steady_clock::time_point deadline, const std::string& what) {
    AlgoEnv::instance().acquire(value, deadline, what);
  }
  ~AlgoEnvScope() { AlgoEnv::instance().release(); }
  AlgoEnvScope(const AlgoEnvScope&) = delete;
  AlgoEnvScope& operator=(const AlgoEnvScope&) = delete;
};

}  // namespace iccrt::comm::detail
