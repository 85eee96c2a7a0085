// softmax / log_softmax and their backward along any dim: the tensor is viewed as [outer, n, inner] around the
// softmax dim, so no transpose is needed (the kernel gathers columns itself when inner > 1).
#include <algorithm>

#include "iccrt/ops/nn.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cuda/nn_kernels.hpp"
#include "src/ops/nn_common.hpp"
#include "src/ops/op_common.hpp"

namespace iccrt::ops {
namespace {

// The [outer, n, inner] sizes of a contiguous tensor of `shape` around dim `dim` (a 0-d tensor is one row of 1).
kernels::SoftmaxArgs layout(const Shape& shape, int64_t dim, DType dtype, bool log) {
  kernels::SoftmaxArgs a;
  a.dtype = dtype;
  a.log = log;
  a.outer = 1;
  a.n = shape.empty() ? 1 : shape[dim];
  a.inner = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) a.outer *= shape[d];
    if (d > dim) a.inner *= shape[d];
  }
  return a;
}

Tensor forward(const char* op, const Tensor& x_in, int64_t dim, bool log) {
  detail::check_floating(op, "input", x_in);
  const int64_t d = wrap_dim(dim, std::max<int64_t>(x_in.dim(), 1));
  const Tensor x = x_in.contiguous();
  Tensor out = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  if (out.numel() == 0) return out;
  kernels::SoftmaxArgs a = layout(x.shape(), d, x.dtype(), log);
  a.x = x.data_ptr();
  a.out = out.data_ptr();
  detail::run_on(
      x.device(), [&] { kernels::cpu::softmax_forward(a); }, [&](void* s) { kernels::cuda::softmax_forward(a, s); });
  return out;
}

Tensor backward(const char* op, const Tensor& grad_in, const Tensor& out_in, int64_t dim, bool log) {
  detail::common_device(op, {&grad_in, &out_in});
  detail::check_floating(op, "output", out_in);
  detail::check_dtype(op, "grad_out", grad_in, out_in.dtype());
  detail::check_shape(op, "grad_out", grad_in, out_in.shape());
  const int64_t d = wrap_dim(dim, std::max<int64_t>(out_in.dim(), 1));
  const Tensor g = grad_in.contiguous(), y = out_in.contiguous();
  Tensor gx = empty(y.shape(), TensorOptions(y.dtype(), y.device()));
  if (gx.numel() == 0) return gx;
  kernels::SoftmaxArgs a = layout(y.shape(), d, y.dtype(), log);
  a.x = g.data_ptr();
  a.y = y.data_ptr();
  a.out = gx.data_ptr();
  detail::run_on(
      y.device(), [&] { kernels::cpu::softmax_backward(a); }, [&](void* s) { kernels::cuda::softmax_backward(a, s); });
  return gx;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return forward("softmax", x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return forward("log_softmax", x, dim, true); }
Tensor softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim) {
  return backward("softmax_backward", grad_out, out, dim, false);
}
Tensor log_softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim) {
  return backward("log_softmax_backward", grad_out, out, dim, true);
}

}  // namespace iccrt::ops
