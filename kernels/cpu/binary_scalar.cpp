// Tensor-scalar binary ops on float16/bfloat16. Other dtypes hold the scalar exactly in their own type, so
// binary.cpp runs them as a tensor-tensor op with a stride-0 operand; a 16-bit tensor computes in float and
// the scalar must stay a float (x * 0.1 multiplies by 0.1f, not by 0.1 rounded to half), so it gets its own
// loops with the scalar captured in the functor. See binary_ops.hpp.
#include "kernels/cpu/binary_ops.hpp"

namespace iccrt::kernels::cpu::detail {
namespace {

template <BinaryOp kOp, class T>
void run_scalar(const ElementwiseArgs& a, float v, bool reversed) {
  using Out = out_t<kOp, T>;
  if constexpr (kOp == BinaryOp::Pow) {
    if (!reversed && v == 2.0f) {  // x ** 2 (squares in losses and norms) without pow's cost
      map<Out, T>(a, kParallelGrain, [](float x) { return x * x; });
      return;
    }
  }
  if (reversed) {
    map<Out, T>(a, grain_for<kOp>(), [v](float x) { return apply<kOp>(v, x); });
  } else {
    map<Out, T>(a, grain_for<kOp>(), [v](float x) { return apply<kOp>(x, v); });
  }
}

}  // namespace

void binary_scalar_16bit(BinaryOp op, const ElementwiseArgs& a, Scalar s, bool reversed) {
  const float v = s.to<float>();
  dispatch_op(op, [&](auto op_tag) {
    if (a.dtype[1] == DType::Float16) {
      run_scalar<decltype(op_tag)::value, Half>(a, v, reversed);
    } else {
      ICCRT_ASSERT(a.dtype[1] == DType::BFloat16, "binary_scalar_16bit on ", static_cast<int>(a.dtype[1]));
      run_scalar<decltype(op_tag)::value, BFloat16>(a, v, reversed);
    }
  });
}

}  // namespace iccrt::kernels::cpu::detail
