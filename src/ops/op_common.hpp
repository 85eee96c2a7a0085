#pragma once
// Shared by the op implementations: argument building (broadcast + dim coalescing) and device dispatch.
#include <initializer_list>

#include "iccrt/core/tensor.hpp"
#include "kernels/common/kernel_args.hpp"
#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cuda/cuda_kernels.hpp"
#include "src/core/cuda_runtime.hpp"

namespace iccrt::detail {

// Kernel args for `out` and `inputs`, each input broadcast to out's shape (ShapeError if it cannot be).
// Raises ValueError when `out` has several elements sharing one memory location (an expanded tensor).
kernels::ElementwiseArgs elementwise_args(const Tensor& out, std::initializer_list<const Tensor*> inputs);

// `in`, or a copy of it when it shares memory with `out` through a different view (a += a.t()): kernels read
// and write in one pass, so an overlapping input must be staged to get the answer a copy would give.
Tensor unalias(const Tensor& out, const Tensor& in);

// The value range of an integer or bool dtype as doubles (bool is [0, 1]); false for floating dtypes.
bool integer_range(DType t, double& lo, double& hi);

// Raises ValueError when `s` is not exactly representable in integer dtype `t` (out of range, or not integral);
// bool accepts any value and floating dtypes anything (they round, or overflow to infinity as IEEE says).
void check_scalar_fits(const char* op, DType t, const Scalar& s);

// All tensors on one device (DeviceError naming `op` otherwise); returns it.
Device common_device(const char* op, std::initializer_list<const Tensor*> ts);

// Runs `cpu()` for CPU tensors or `gpu(stream)` on the device's current stream for CUDA tensors.
template <class Cpu, class Gpu>
void run_on(const Device& d, Cpu&& cpu, Gpu&& gpu) {
  if (d.is_cpu()) {
    cpu();
    return;
  }
#ifdef ICCRT_HAVE_CUDA
  cuda::DeviceGuard guard(d.index);
  gpu(cuda::current_stream(d.index));
#else
  (void)gpu;
  ICCRT_CHECK_DEVICE(false, "tensor on ", d.str(), " but iccrt was built without CUDA");
#endif
}

}  // namespace iccrt::detail
