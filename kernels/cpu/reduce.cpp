// Entry point of the CPU reductions: settles the loop layout once, then hands off by kind.
// See Note [Reduction strategies] in reduce_loop.hpp.
#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/reduce_loop.hpp"

namespace iccrt::kernels::cpu {

void reduce(const ReduceArgs& a) {
  if (a.out_numel <= 0) return;
  const detail::ReduceLayout layout = detail::make_layout(a);
  switch (a.kind) {
    case ReduceKind::Sum:
    case ReduceKind::Mean:
    case ReduceKind::Var: return detail::reduce_sum_mean_var(a, layout);
    case ReduceKind::Max:
    case ReduceKind::Min:
      // The ops layer raises ValueError for these first; an empty max has no value to write.
      ICCRT_ASSERT(a.red_numel > 0, "max/min over an empty reduction");
      return detail::reduce_max_min(a, layout);
  }
  ICCRT_ASSERT(false, "unknown reduce kind ", static_cast<int>(a.kind));
}

}  // namespace iccrt::kernels::cpu
