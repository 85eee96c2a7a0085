#include "iccrt/core/config.hpp"

#include <sstream>

#include "iccrt/core/device.hpp"
#include "src/core/cuda_runtime.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace iccrt {

const char* version() { return "0.1.0"; }

std::string build_config() {
  std::ostringstream os;
  os << "iccrt " << version() << "\n";
  os << "  compiler: " << __VERSION__ << "\n";
  os << "  cpu isa: ";
#if defined(__AVX512F__)
  os << "avx512f ";
#endif
#if defined(__AVX2__)
  os << "avx2 ";
#endif
#if defined(__FMA__)
  os << "fma ";
#endif
  os << "\n";
#ifdef _OPENMP
  os << "  openmp: yes, max threads " << omp_get_max_threads() << "\n";
#else
  os << "  openmp: no\n";
#endif
#ifdef ICCRT_HAVE_OPENBLAS
  os << "  cpu gemm: OpenBLAS\n";
#else
  os << "  cpu gemm: iccrt blocked GEMM (built without OpenBLAS)\n";
#endif
  os << "  cuda: " << (cuda_compiled() ? "compiled" : "not compiled") << ", " << cuda_device_count()
     << " device(s)\n";
  os << "  cuda libraries: " << cuda::library_versions() << "\n";
  return os.str();
}

}  // namespace iccrt
