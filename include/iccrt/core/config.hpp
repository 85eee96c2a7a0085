#pragma once
#include <string>

#include "iccrt/core/export.hpp"

namespace iccrt {

ICCRT_API const char* version();  // "0.1.0"
// A multi-line description of this build: compiler, CPU features it was built for, OpenMP threads, BLAS,
// CUDA runtime / driver / cuBLAS / cuDNN / NCCL versions (or why they are absent).
ICCRT_API std::string build_config();

}  // namespace iccrt
