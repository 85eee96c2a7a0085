// Binary arithmetic: add, sub, mul, div, pow, maximum, minimum. See binary_ops.hpp.
#include "kernels/cpu/binary_ops.hpp"

namespace iccrt::kernels::cpu::detail {

void binary_arith(BinaryOp op, const ElementwiseArgs& a) {
  dispatch_op(op, [&](auto op_tag) {
    constexpr BinaryOp kOp = decltype(op_tag)::value;
    if constexpr (!is_comparison(kOp)) {
      dispatch(a.dtype[1], [&](auto tag) { run_binary<decltype(op_tag)::value, typename decltype(tag)::type>(a); });
    } else {
      ICCRT_ASSERT(false, "binary_arith given a comparison");
    }
  });
}

}  // namespace iccrt::kernels::cpu::detail
