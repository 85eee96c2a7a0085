// The backward of core's views and copies (src/core/autograd_hook.hpp), and the in-place guard.
#include "iccrt/autograd/functions.hpp"
#include "iccrt/autograd/node.hpp"
#include "iccrt/core/error.hpp"
#include "src/core/autograd_hook.hpp"

namespace iccrt::detail {

using autograd::TensorList;

Tensor record_view(const Tensor& base, Tensor out, const ViewRecord& r) {
  if (!records(base)) return out;
  const Shape base_shape = base.shape();
  const DType dtype = base.dtype();
  const Device device = base.device();
  switch (r.kind) {
    case ViewKind::Reshape:
      return autograd::record("ViewBackward", {base}, std::move(out), [base_shape](const Tensor& g) {
        return TensorList{g.reshape(base_shape)};
      });
    case ViewKind::Permute: {
      std::vector<int64_t> inverse(r.perm.size());
      for (size_t i = 0; i < r.perm.size(); ++i) inverse[r.perm[i]] = static_cast<int64_t>(i);
      return autograd::record("PermuteBackward", {base}, std::move(out),
                              [inverse](const Tensor& g) { return TensorList{g.permute(inverse)}; });
    }
    case ViewKind::Slice:
    case ViewKind::Select:
      return autograd::record(r.kind == ViewKind::Slice ? "SliceBackward" : "SelectBackward", {base}, std::move(out),
                              [base_shape, dtype, device, r](const Tensor& g) {
                                Tensor full = zeros(base_shape, TensorOptions(dtype, device));
                                Tensor part = r.kind == ViewKind::Slice ? full.slice(r.dim, r.start, r.end, r.step)
                                                                        : full.select(r.dim, r.start);
                                part.copy_(g);
                                return TensorList{full};
                              });
    case ViewKind::Expand:
      return autograd::record("ExpandBackward", {base}, std::move(out),
                              [base_shape](const Tensor& g) { return TensorList{sum_to(g, base_shape)}; });
  }
  return out;
}

Tensor record_copy(const Tensor& base, Tensor out, const char* name) {
  if (!records(base)) return out;
  const DType dtype = base.dtype();
  const Device device = base.device();
  return autograd::record(name, {base}, std::move(out),
                          [dtype, device](const Tensor& g) { return TensorList{g.to(device, dtype)}; });
}

void check_inplace(const Tensor& dst, const Tensor& src, const char* op) {
  if (!autograd::GradMode::is_enabled()) return;
  const bool dst_grad = dst.requires_grad();
  const bool src_grad = src.defined() && src.requires_grad();
  if (!dst_grad && !src_grad) return;
  ICCRT_CHECK_VALUE(!(dst_grad && dst.is_leaf()), op, ": a leaf tensor that requires grad cannot be modified in "
                    "place while gradients are recorded; wrap the update in no_grad()");
  ICCRT_CHECK_VALUE(false, op, ": in-place ops on tensors that take part in autograd are not recorded; use the "
                    "out-of-place form (e.g. a = a + b instead of a += b), or run it under no_grad()");
}

}  // namespace iccrt::detail
