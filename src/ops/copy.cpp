// Tensor methods that move or convert element data: contiguous, clone, to, copy_, fill_, item.
// Note [Cross-device copies]: the kernels only copy within one device. A copy between devices first makes a
// contiguous buffer of the destination dtype on the source device, moves its bytes with one memcpy, and
// then scatters it into the destination's layout on the destination device if that layout is not contiguous.
#include <cmath>

#include "src/core/autograd_hook.hpp"
#include "src/ops/op_common.hpp"

namespace iccrt {
namespace {

void copy_same_device(const Tensor& dst, const Tensor& src_in) {
  if (dst.numel() == 0) return;
  const Tensor src = detail::unalias(dst, src_in);
  const auto args = detail::elementwise_args(dst, {&src});
  detail::run_on(
      dst.device(), [&] { kernels::cpu::copy(args); }, [&](void* s) { kernels::cuda::copy(args, s); });
}

}  // namespace

Tensor Tensor::contiguous() const {
  ICCRT_CHECK(defined(), "contiguous() on an undefined tensor");
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, TensorOptions(dtype_, device()));
  copy_same_device(out, *this);
  return detail::record_copy(*this, std::move(out), "CloneBackward");
}

Tensor Tensor::to(Device device) const { return to(device, dtype_); }
Tensor Tensor::to(DType dtype) const { return to(device(), dtype); }

Tensor Tensor::to(Device device, DType dtype) const {
  if (device == this->device() && dtype == dtype_) return *this;
  Tensor out = empty(shape_, TensorOptions(dtype, device));
  {
    autograd::NoGradGuard raw;
    out.copy_(*this);
  }
  return detail::record_copy(*this, std::move(out), "ToCopyBackward");
}

Tensor& Tensor::copy_(const Tensor& src) {
  ICCRT_CHECK(defined() && src.defined(), "copy_: undefined tensor");
  detail::check_inplace(*this, src, "copy_");
  // broadcast_shapes raises with both shapes when they do not broadcast at all.
  ICCRT_CHECK_SHAPE(broadcast_shapes(shape_, src.shape()) == shape_, "copy_: source shape ", src.shape(),
                    " cannot be broadcast to destination shape ", shape_);
  if (numel() == 0) return *this;
  storage_->bump_version();
  const Device dd = device(), sd = src.device();
  if (dd == sd) {
    copy_same_device(*this, src);
    return *this;
  }
  // Cross-device: see Note [Cross-device copies].
  Tensor staged = src.expand(shape_).to(sd, dtype_).contiguous();
  Tensor landing = is_contiguous() ? *this : empty(shape_, TensorOptions(dtype_, dd));
  cuda::memcpy(landing.data_ptr(), dd, staged.data_ptr(), sd, static_cast<size_t>(staged.nbytes()));
  if (!is_contiguous()) copy_same_device(*this, landing);
  return *this;
}

Tensor& Tensor::fill_(Scalar value) {
  ICCRT_CHECK(defined(), "fill_ on an undefined tensor");
  detail::check_scalar_fits("fill_", dtype_, value);
  detail::check_inplace(*this, Tensor(), "fill_");
  if (numel() == 0) return *this;
  storage_->bump_version();
  const auto args = detail::elementwise_args(*this, {});
  detail::run_on(
      device(), [&] { kernels::cpu::fill(args, value); }, [&](void* s) { kernels::cuda::fill(args, value, s); });
  return *this;
}

Scalar Tensor::item() const {
  ICCRT_CHECK_VALUE(defined() && numel() == 1, "item() needs a tensor with exactly one element, got shape ",
                    defined() ? shape_ : Shape{});
  Tensor host = to(kCPU).contiguous();
  return dispatch(dtype_, [&](auto tag) -> Scalar {
    using T = typename decltype(tag)::type;
    const T v = *static_cast<const T*>(host.data_ptr());
    if constexpr (std::is_same_v<T, bool>) return Scalar(v);
    else if constexpr (std::is_integral_v<T>) return Scalar(static_cast<int64_t>(v));
    else return Scalar(static_cast<double>(static_cast<opmath_t<T>>(v)));
  });
}

double Tensor::get(const std::vector<int64_t>& index) const {
  ICCRT_CHECK_INDEX(static_cast<int64_t>(index.size()) == dim(), "get: expected ", dim(), " indices, got ",
                    index.size());
  Tensor t = *this;
  for (int64_t i = static_cast<int64_t>(index.size()) - 1; i >= 0; --i) t = t.select(i, index[i]);
  return t.item().to<double>();
}

}  // namespace iccrt
