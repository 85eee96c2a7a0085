// dropout and its backward: one kernel applies the counter-based mask of (seed, offset) (nn_args.hpp), so the
// backward rebuilds the forward's mask instead of storing it.
#include <cmath>

#include "iccrt/ops/nn.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cuda/nn_kernels.hpp"
#include "src/ops/nn_common.hpp"
#include "src/ops/op_common.hpp"

namespace iccrt::ops {
namespace {

Tensor apply(const char* op, const char* what, const Tensor& in_t, double p, uint64_t seed, uint64_t offset,
             bool backward) {
  detail::check_floating(op, what, in_t);
  ICCRT_CHECK_VALUE(p >= 0.0 && p <= 1.0, op, ": p must be in [0, 1] but got ", p);  // NaN fails too
  const Tensor in = in_t.contiguous();
  Tensor out = empty(in.shape(), TensorOptions(in.dtype(), in.device()));
  if (out.numel() == 0) return out;
  kernels::DropoutArgs a;
  a.in = in.data_ptr();
  a.out = out.data_ptr();
  a.dtype = in.dtype();
  a.n = in.numel();
  a.p = p;
  a.seed = seed;
  a.offset = offset;
  if (backward) {
    detail::run_on(
        in.device(), [&] { kernels::cpu::dropout_backward(a); },
        [&](void* s) { kernels::cuda::dropout_backward(a, s); });
  } else {
    detail::run_on(
        in.device(), [&] { kernels::cpu::dropout_forward(a); }, [&](void* s) { kernels::cuda::dropout_forward(a, s); });
  }
  return out;
}

}  // namespace

Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset) {
  return apply("dropout", "input", x, p, seed, offset, false);
}

Tensor dropout_backward(const Tensor& grad_out, double p, uint64_t seed, uint64_t offset) {
  return apply("dropout_backward", "grad_out", grad_out, p, seed, offset, true);
}

}  // namespace iccrt::ops
