// The CUDA runtime calls the core needs (see src/core/cuda_runtime.hpp): devices, per-thread current streams,
// copies, the caching allocator's backend and library versions.
#include "src/core/cuda_runtime.hpp"

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>

#include <array>
#include <cstring>

#include "iccrt/core/error.hpp"

// Raises iccrt::Error naming the operation and the CUDA error. The error is read back with cudaGetLastError so
// that a non-sticky failure is not reported again by the next, unrelated check.
#define ICCRT_CUDA_RT_CHECK(expr, ...)                                                                         \
  do {                                                                                                         \
    const cudaError_t iccrt_rt_err_ = (expr);                                                                  \
    if (iccrt_rt_err_ != cudaSuccess) {                                                                        \
      (void)cudaGetLastError();                                                                                \
      throw ::iccrt::Error(::iccrt::detail::str("CUDA error in ", ::iccrt::detail::str(__VA_ARGS__), ": ",     \
                                                cudaGetErrorName(iccrt_rt_err_), " (",                         \
                                                cudaGetErrorString(iccrt_rt_err_), ") from ", #expr));         \
    }                                                                                                          \
  } while (0)

namespace iccrt::cuda {
namespace {

constexpr int kMaxDevices = 64;

// This thread's current stream per device (nullptr, the legacy default stream, until set).
thread_local std::array<StreamHandle, kMaxDevices> t_streams{};

void check_index(int index) {
  const int n = device_count();
  ICCRT_CHECK_DEVICE(index >= 0 && index < n, "CUDA device ", index, " does not exist (", n,
                     n == 1 ? " device is" : " devices are", " visible)");
  ICCRT_CHECK_DEVICE(index < kMaxDevices, "CUDA device ", index, " is beyond the ", kMaxDevices,
                     " devices iccrt supports");
}

cudaStream_t as_stream(StreamHandle s) { return static_cast<cudaStream_t>(s); }

// At process exit the CUDA runtime may be unloaded before static allocators are destroyed; frees then fail
// with cudaErrorCudartUnloading, which is harmless (the driver reclaims everything) and must not throw.
bool unloading(cudaError_t e) { return e == cudaErrorCudartUnloading; }

class CudaCachingBackend final : public CachingBackend {
 public:
  explicit CudaCachingBackend(int device) : device_(device) {}

  void* raw_alloc(size_t nbytes) override {
    DeviceGuard g(device_);
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, nbytes);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky: clear it so the allocator's retry and later checks start clean
      return nullptr;
    }
    ICCRT_CUDA_RT_CHECK(e, "cudaMalloc of ", nbytes, " bytes on cuda:", device_);
    return p;
  }

  void raw_free(void* ptr) override {
    const cudaError_t e = cudaFree(ptr);  // cudaFree finds the device from the pointer
    if (unloading(e)) return;
    ICCRT_CUDA_RT_CHECK(e, "cudaFree on cuda:", device_);
  }

  EventHandle record_event(StreamHandle stream) override {
    DeviceGuard g(device_);  // an event must be recorded on a stream of the device it was created on
    cudaEvent_t ev = nullptr;
    ICCRT_CUDA_RT_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate on cuda:", device_);
    const cudaError_t e = cudaEventRecord(ev, as_stream(stream));
    if (e != cudaSuccess) (void)cudaEventDestroy(ev);
    ICCRT_CUDA_RT_CHECK(e, "cudaEventRecord on cuda:", device_);
    return ev;
  }

  bool event_done(EventHandle ev) override {
    const cudaError_t e = cudaEventQuery(static_cast<cudaEvent_t>(ev));
    if (e == cudaSuccess) return true;
    if (e == cudaErrorNotReady) {
      (void)cudaGetLastError();  // "not ready" is an answer, not an error; keep it out of later checks
      return false;
    }
    ICCRT_CUDA_RT_CHECK(e, "cudaEventQuery on cuda:", device_);
    return false;
  }

  void destroy_event(EventHandle ev) override {
    const cudaError_t e = cudaEventDestroy(static_cast<cudaEvent_t>(ev));
    if (unloading(e)) return;
    ICCRT_CUDA_RT_CHECK(e, "cudaEventDestroy on cuda:", device_);
  }

  StreamHandle current_stream() override { return cuda::current_stream(device_); }

 private:
  int device_;
};

// "13.0" from 13000 (CUDA's encoding: 1000 * major + 10 * minor).
std::string cuda_version_string(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}
// "9.1.0" from 90100 (10000 * major + 100 * minor + patch: cuBLAS, cuDNN >= 9, NCCL >= 2.9).
std::string version3(long long v) {
  return std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." + std::to_string(v % 100);
}

}  // namespace

int device_count() {
  // Cached: the set of visible devices cannot change within a process, and this is asked often.
  static const int n = [] {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();  // no driver or no GPU: report none, leave no error behind
      return 0;
    }
    return count;
  }();
  return n;
}

void set_device(int index) {
  check_index(index);
  ICCRT_CUDA_RT_CHECK(cudaSetDevice(index), "cudaSetDevice(", index, ")");
}

int current_device() {
  int d = 0;
  ICCRT_CUDA_RT_CHECK(cudaGetDevice(&d), "cudaGetDevice");
  return d;
}

StreamHandle current_stream(int device) {
  check_index(device);
  return t_streams[static_cast<size_t>(device)];
}

void set_current_stream(int device, StreamHandle stream) {
  check_index(device);
  t_streams[static_cast<size_t>(device)] = stream;
}

void stream_synchronize(StreamHandle stream) {
  ICCRT_CUDA_RT_CHECK(cudaStreamSynchronize(as_stream(stream)), "cudaStreamSynchronize");
}

void memcpy(void* dst, const Device& dst_dev, const void* src, const Device& src_dev, size_t n) {
  if (n == 0) return;
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memcpy(dst, src, n);
    return;
  }
  if (dst_dev.is_cuda() && src_dev.is_cuda() && dst_dev.index != src_dev.index) {
    // Ordered after all work queued on both devices, so no stream bookkeeping is needed for this rare case.
    ICCRT_CUDA_RT_CHECK(cudaMemcpyPeer(dst, dst_dev.index, src, src_dev.index, n), "copying ", n, " bytes from ",
                        src_dev.str(), " to ", dst_dev.str());
    return;
  }
  // One device is involved: queue the copy on its current stream so it is ordered after the kernels that
  // produced the data, then wait if the host is a side (the caller reads or reuses host memory right after).
  const int device = dst_dev.is_cuda() ? dst_dev.index : src_dev.index;
  DeviceGuard g(device);
  const cudaStream_t s = as_stream(current_stream(device));
  const cudaMemcpyKind kind = dst_dev.is_cpu()   ? cudaMemcpyDeviceToHost
                              : src_dev.is_cpu() ? cudaMemcpyHostToDevice
                                                 : cudaMemcpyDeviceToDevice;
  ICCRT_CUDA_RT_CHECK(cudaMemcpyAsync(dst, src, n, kind, s), "copying ", n, " bytes from ", src_dev.str(), " to ",
                      dst_dev.str());
  if (kind != cudaMemcpyDeviceToDevice) {
    ICCRT_CUDA_RT_CHECK(cudaStreamSynchronize(s), "copying ", n, " bytes from ", src_dev.str(), " to ",
                        dst_dev.str());
  }
}

std::unique_ptr<CachingBackend> make_caching_backend(int device) {
  check_index(device);
  return std::make_unique<CudaCachingBackend>(device);
}

std::string library_versions() {
  int runtime = 0, driver = 0, nccl = 0;
  std::string out = "CUDA runtime ";
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) {
    out += cuda_version_string(runtime);
  } else {
    (void)cudaGetLastError();
    out += "unknown";
  }
  // cudaDriverGetVersion reports 0 when no driver is installed.
  out += ", driver ";
  if (cudaDriverGetVersion(&driver) != cudaSuccess) (void)cudaGetLastError();
  out += driver > 0 ? cuda_version_string(driver) : "none";
  out += ", cuBLAS " + version3(static_cast<long long>(cublasLtGetVersion()));
  out += ", cuDNN " + version3(static_cast<long long>(cudnnGetVersion()));
  out += ", NCCL ";
  out += ncclGetVersion(&nccl) == ncclSuccess ? version3(nccl) : "unknown";
  return out;
}

DeviceGuard::DeviceGuard(int index) : prev_(current_device()) {
  if (index != prev_) set_device(index);
}

DeviceGuard::~DeviceGuard() {
  // A destructor must not throw; if the device cannot be restored there is nothing better to do here. Errors
  // are cleared only when these calls fail, so that an unrelated pending error still reaches its check.
  int cur = prev_;
  if (cudaGetDevice(&cur) != cudaSuccess) {
    (void)cudaGetLastError();
    return;
  }
  if (cur != prev_ && cudaSetDevice(prev_) != cudaSuccess) (void)cudaGetLastError();
}

}  // namespace iccrt::cuda
