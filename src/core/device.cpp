#include "iccrt/core/device.hpp"

#include <cstdlib>

#include "iccrt/core/error.hpp"
#include "src/core/cuda_runtime.hpp"

namespace iccrt {

Device::Device(const std::string& spec) {
  if (spec == "cpu") {
    type = DeviceType::CPU;
    index = 0;
    return;
  }
  if (spec.rfind("cuda", 0) == 0) {
    type = DeviceType::CUDA;
    index = 0;
    if (spec.size() == 4) return;
    if (spec[4] == ':' && spec.size() > 5 && spec.size() < 10) {
      char* end = nullptr;
      const long v = std::strtol(spec.c_str() + 5, &end, 10);
      if (*end == '\0' && v >= 0 && spec[5] != '-' && spec[5] != '+') {
        index = static_cast<int>(v);
        return;
      }
    }
  }
  ICCRT_CHECK_VALUE(false, "invalid device '", spec, "'; expected 'cpu', 'cuda' or 'cuda:N'");
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

bool cuda_compiled() {
#ifdef ICCRT_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() { return cuda::device_count(); }
bool cuda_available() { return cuda_device_count() > 0; }

void cuda_synchronize(int index) {
  ICCRT_CHECK_DEVICE(index >= 0 && index < cuda_device_count(), "cuda_synchronize: CUDA device ", index,
                     " is not available (", cuda_device_count(), " devices)");
  cuda::DeviceGuard guard(index);
  cuda::stream_synchronize(cuda::current_stream(index));
}

}  // namespace iccrt
