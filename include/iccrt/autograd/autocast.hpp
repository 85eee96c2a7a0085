#pragma once
// Automatic mixed precision, per thread (like torch.autocast): inside an AutocastGuard the matrix products
// (matmul, mm, bmm, linear, scaled_dot_product_attention, conv2d) cast their float32 inputs to the autocast
// dtype (bfloat16 or float16), the numerically sensitive ops (softmax, log_softmax, layer_norm, rms_norm,
// cross_entropy) to float32, and binary elementwise ops with two different floating dtypes compute in the
// wider one. The casts are recorded, so gradients reach float32 master weights in float32.
#include "iccrt/core/dtype.hpp"
#include "iccrt/core/export.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt::autograd {

struct AutocastState {
  bool enabled = false;
  DType dtype = DType::BFloat16;
};

ICCRT_API AutocastState autocast_state();
ICCRT_API void set_autocast_state(AutocastState s);  // dtype must be bfloat16 or float16 (DTypeError)

class ICCRT_API AutocastGuard {
 public:
  explicit AutocastGuard(bool enabled, DType dtype = DType::BFloat16) : prev_(autocast_state()) {
    set_autocast_state({enabled, dtype});
  }
  ~AutocastGuard() { set_autocast_state(prev_); }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  AutocastState prev_;
};

namespace detail {
// x cast (recorded) to the autocast dtype when autocast is on and x is a float32 tensor; else x (float64 is
// deliberate precision and stays).
ICCRT_API Tensor autocast_lower(const Tensor& x);
// x cast (recorded) to float32 when autocast is on and x is float16/bfloat16; else x.
ICCRT_API Tensor autocast_float32(const Tensor& x);
}  // namespace detail

}  // namespace iccrt::autograd
