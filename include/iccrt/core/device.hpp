#pragma once
#include <cstdint>
#include <ostream>
#include <string>

#include "iccrt/core/export.hpp"

namespace iccrt {

enum class DeviceType : uint8_t { CPU, CUDA };

struct ICCRT_API Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;  // CUDA ordinal; always 0 for CPU

  Device() = default;
  Device(DeviceType t, int i = 0) : type(t), index(t == DeviceType::CPU ? 0 : i) {}
  // "cpu", "cuda", "cuda:1". Raises ValueError on anything else.
  explicit Device(const std::string& spec);

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const;  // "cpu" or "cuda:N"
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};
ICCRT_API std::ostream& operator<<(std::ostream& os, const Device& d);

inline Device kCPU{DeviceType::CPU, 0};
inline Device cuda_device(int i = 0) { return Device(DeviceType::CUDA, i); }

// Whether this build has CUDA support and how many devices the driver reports (0 without a GPU).
ICCRT_API bool cuda_compiled();
ICCRT_API int cuda_device_count();
ICCRT_API bool cuda_available();  // compiled and at least one device
// Waits until the work this thread queued on device `index` (its current stream) has finished.
// DeviceError without CUDA or that device.
ICCRT_API void cuda_synchronize(int index = 0);

}  // namespace iccrt
