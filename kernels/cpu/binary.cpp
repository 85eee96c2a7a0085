// Entry points of the binary elementwise kernels (tensor-tensor, tensor-scalar) and where().
// See binary_ops.hpp and Note [Elementwise loop].
#include <cstring>

#include "kernels/cpu/binary_ops.hpp"
#include "kernels/cpu/cpu_kernels.hpp"

namespace iccrt::kernels::cpu {

void binary(BinaryOp op, const ElementwiseArgs& a) {
  if (is_comparison(op)) {
    detail::binary_compare(op, a);
  } else {
    detail::binary_arith(op, a);
  }
}

void binary_scalar(BinaryOp op, const ElementwiseArgs& a, Scalar s, bool reversed) {
  const DType t = a.dtype[1];
  if (t == DType::Float16 || t == DType::BFloat16) {
    detail::binary_scalar_16bit(op, a, s, reversed);
    return;
  }
  if (op == BinaryOp::Pow && !reversed && is_floating(t) && s.to_double() == 2.0) {
    // x ** 2 (squares in losses and norms) without pow's cost
    dispatch_floating(t, "pow", [&](auto tag) {
      using T = typename decltype(tag)::type;
      detail::map<T, T>(a, detail::kParallelGrain, [](T x) { return x * x; });
    });
    return;
  }
  // The scalar becomes a third operand of x's dtype with every stride 0: the same loops as tensor-tensor ops,
  // whose broadcast path reads it once per run.
  alignas(8) char value[8];
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = s.to<T>();
    std::memcpy(value, &v, sizeof(T));
  });
  ElementwiseArgs b = a;
  b.nargs = 3;
  const int xi = reversed ? 2 : 1, si = reversed ? 1 : 2;
  b.data[xi] = a.data[1];
  b.dtype[xi] = t;
  b.data[si] = value;
  b.dtype[si] = t;
  for (int d = 0; d < a.ndim; ++d) {
    b.strides[xi][d] = a.strides[1][d];
    b.strides[si][d] = 0;
  }
  binary(op, b);
}

void where(const ElementwiseArgs& a) {
  // where() only moves bits, so it runs on unsigned integers of the element's size: four loops instead of
  // eight, no float16 round trip, and -0.0 and NaN payloads come through untouched.
  auto run = [&](auto tag) {
    using U = typename decltype(tag)::type;
    detail::map<U, bool, U, U>(a, detail::kParallelGrain, [](bool c, U x, U y) { return c ? x : y; });
  };
  switch (itemsize(a.dtype[0])) {
    case 1: return run(TypeTag<uint8_t>{});
    case 2: return run(TypeTag<uint16_t>{});
    case 4: return run(TypeTag<uint32_t>{});
    case 8: return run(TypeTag<uint64_t>{});
    default: break;
  }
  ICCRT_ASSERT(false, "where: unexpected dtype ", static_cast<int>(a.dtype[0]));
}

}  // namespace iccrt::kernels::cpu
