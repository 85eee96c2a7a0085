#pragma once
// Small helpers of the NCCL backend: dtype / op mapping with iccrt's errors, NCCL and CUDA error text, and
// NCCL's version encoding. Included only by nccl_backend.cpp (and CUDA builds).
#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

#include "iccrt/comm/types.hpp"
#include "iccrt/core/dtype.hpp"
#include "iccrt/core/error.hpp"

namespace iccrt::comm::detail {

// The NCCL type that moves `dtype`'s bytes. Bool travels as uint8 for ops that only move data (all_gather,
// broadcast, all_to_all, send/recv); reducing ops reject it first (check_reducible).
inline ncclDataType_t nccl_dtype(DType dtype, const char* what) {
  switch (dtype) {
    case DType::Float32: return ncclFloat32;
    case DType::Float64: return ncclFloat64;
    case DType::Float16: return ncclFloat16;
    case DType::BFloat16: return ncclBfloat16;
    case DType::Int32: return ncclInt32;
    case DType::Int64: return ncclInt64;
    case DType::UInt8:
    case DType::Bool: return ncclUint8;
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
                    ": avg needs a floating dtype (float32, float64, float16, bfloat16) but got ",
                    dtype_name(dtype));
}

inline ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return ncclSum;
    case ReduceOp::Prod: return ncclProd;
    case ReduceOp::Min: return ncclMin;
    case ReduceOp::Max: return ncclMax;
    case ReduceOp::Avg: return ncclAvg;  // NCCL >= 2.10: sum, then divide by the rank count
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

}  // namespace iccrt::comm::detail
