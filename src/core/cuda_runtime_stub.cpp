// CPU-only builds: the CUDA runtime calls exist so that the core links, and raise a clear error when used.
#include "iccrt/core/error.hpp"
#include "src/core/cuda_runtime.hpp"

namespace iccrt::cuda {
namespace {
[[noreturn]] void no_cuda(const char* what) {
  ICCRT_CHECK_DEVICE(false, what, ": iccrt was built without CUDA support (rebuild with ICCRT_WITH_CUDA=ON)");
  throw;  // unreachable
}
}  // namespace

int device_count() { return 0; }
void set_device(int) { no_cuda("set_device"); }
int current_device() { no_cuda("current_device"); }
StreamHandle current_stream(int) { no_cuda("current_stream"); }
void set_current_stream(int, StreamHandle) { no_cuda("set_current_stream"); }
void stream_synchronize(StreamHandle) { no_cuda("stream_synchronize"); }
void memcpy(void*, const Device&, const void*, const Device&, size_t) { no_cuda("memcpy"); }
std::unique_ptr<CachingBackend> make_caching_backend(int) { no_cuda("CUDA allocation"); }
std::string library_versions() { return "CUDA not compiled in"; }
DeviceGuard::DeviceGuard(int) : prev_(0) { no_cuda("DeviceGuard"); }
DeviceGuard::~DeviceGuard() = default;

}  // namespace iccrt::cuda
