#pragma once
// The few CUDA runtime calls the core needs, behind a header without CUDA types so that the rest of src/
// compiles the same with and without CUDA. Implemented in src/core/cuda/cuda_runtime.cpp (CUDA builds) and
// src/core/cuda_runtime_stub.cpp (CPU-only builds: device_count() is 0, everything else raises DeviceError).
#include <cstddef>
#include <memory>
#include <string>

#include "iccrt/core/caching_allocator.hpp"
#include "iccrt/core/device.hpp"

namespace iccrt::cuda {

int device_count();  // 0 without a driver or GPU (never raises)
void set_device(int index);
int current_device();
// The stream ops on `device` are queued on by this thread (nullptr: the legacy default stream).
StreamHandle current_stream(int device);
void set_current_stream(int device, StreamHandle stream);
void stream_synchronize(StreamHandle stream);
// Copies n bytes; either side may be the host. Synchronous with respect to the host when either side is host.
void memcpy(void* dst, const Device& dst_dev, const void* src, const Device& src_dev, size_t n);
std::unique_ptr<CachingBackend> make_caching_backend(int device);
// "CUDA runtime 13.0, driver 13.0, cuBLAS 13.x.y, cuDNN 9.x.y, NCCL 2.x.y" (driver "none" without a GPU).
std::string library_versions();

// Makes `index` current for the lifetime of the guard, restoring the previous device after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int index);
  ~DeviceGuard();

 private:
  int prev_;
};

}  // namespace iccrt::cuda
