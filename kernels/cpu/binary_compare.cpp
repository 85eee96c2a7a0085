// Comparisons (eq, ne, lt, le, gt, ge): any dtype in, bool out. See binary_ops.hpp.
#include "kernels/cpu/binary_ops.hpp"

namespace iccrt::kernels::cpu::detail {

void binary_compare(BinaryOp op, const ElementwiseArgs& a) {
  dispatch_op(op, [&](auto op_tag) {
    constexpr BinaryOp kOp = decltype(op_tag)::value;
    if constexpr (is_comparison(kOp)) {
      dispatch(a.dtype[1], [&](auto tag) { run_binary<decltype(op_tag)::value, typename decltype(tag)::type>(a); });
    } else {
      ICCRT_ASSERT(false, "binary_compare given an arithmetic op");
    }
  });
}

}  // namespace iccrt::kernels::cpu::detail
