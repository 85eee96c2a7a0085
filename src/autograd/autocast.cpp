// Autocast state and the casts the differentiable ops apply under it (include/iccrt/autograd/autocast.hpp).
#include "iccrt/autograd/autocast.hpp"

#include "iccrt/core/error.hpp"

namespace iccrt::autograd {
namespace {
thread_local AutocastState t_state;
}  // namespace

AutocastState autocast_state() { return t_state; }

void set_autocast_state(AutocastState s) {
  ICCRT_CHECK_DTYPE(s.dtype == DType::BFloat16 || s.dtype == DType::Float16,
                    "autocast supports bfloat16 and float16, got ", dtype_name(s.dtype));
  t_state = s;
}

namespace detail {

Tensor autocast_lower(const Tensor& x) {
  if (!t_state.enabled || !x.defined()) return x;
  if (x.dtype() != DType::Float32) return x;  // float64 is left alone, as in torch.autocast
  return x.to(t_state.dtype);
}

Tensor autocast_float32(const Tensor& x) {
  if (!t_state.enabled || !x.defined()) return x;
  if (x.dtype() != DType::Float16 && x.dtype() != DType::BFloat16) return x;
  return x.to(DType::Float32);
}

}  // namespace detail
}  // namespace iccrt::autograd
