#pragma once
// How core's Tensor members (views, copies, in-place writes) reach autograd without knowing its formulas:
// they compute their raw result, then hand it here (implemented in src/autograd/views.cpp).
#include <cstdint>
#include <vector>

#include "iccrt/autograd/grad_mode.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt::detail {

enum class ViewKind : uint8_t {
  Reshape,  // view / reshape / squeeze / unsqueeze: backward reshapes to the base's shape
  Permute,  // permute / transpose / t: backward applies the inverse permutation (perm)
  Slice,    // narrow / slice: backward writes into zeros(base).slice(dim, start, end, step)
  Select,   // select: backward writes into zeros(base).select(dim, start)
  Expand,   // expand: backward sums over the broadcast dims
};

struct ViewRecord {
  ViewKind kind = ViewKind::Reshape;
  int64_t dim = 0, start = 0, end = 0, step = 1;
  std::vector<int64_t> perm;
};

// Whether an op on `t` must record: grad mode is on and t requires grad. Inline-cheap for the common case.
inline bool records(const Tensor& t) { return t.autograd_meta() != nullptr && t.requires_grad() && autograd::GradMode::is_enabled(); }

// `out` (a fresh view of base) with its grad_fn set when records(base).
Tensor record_view(const Tensor& base, Tensor out, const ViewRecord& r);
// `out`, a copy of base in another dtype / device / layout: backward converts the gradient back.
Tensor record_copy(const Tensor& base, Tensor out, const char* name);
// Raises ValueError when an in-place write to `dst` (from `src`, which may be undefined) would have to be
// recorded: autograd does not rewrite history. Called by every in-place op before it writes.
void check_inplace(const Tensor& dst, const Tensor& src, const char* op);

}  // namespace iccrt::detail
