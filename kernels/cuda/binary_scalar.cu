// Binary pointwise ops between a tensor and a scalar: out = x op s, or s op x when `reversed`. The scalar is
// converted once, on the host, to the op's compute type (float for 16-bit floats), so fp16 x * 0.1 multiplies
// by 0.1f rather than by 0.1 rounded to fp16.
#include "kernels/cuda/binary_ops.cuh"
#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/elementwise.cuh"

namespace iccrt::kernels::cuda {
namespace {

template <BinaryOp op, class T>
struct ScalarFn {
  opmath_t<T> s;
  bool reversed;  // uniform across the launch, so the branch costs nothing
  __device__ __forceinline__ detail::binary_out_t<op, T> operator()(T x) const {
    const opmath_t<T> v = detail::to_op(x);
    return reversed ? detail::binary_compute<op, T>(s, v) : detail::binary_compute<op, T>(v, s);
  }
};

template <class T>
struct SquareFn {
  __device__ __forceinline__ T operator()(T x) const {
    const opmath_t<T> v = detail::to_op(x);
    return detail::from_op<T>(v * v);
  }
};

}  // namespace

void binary_scalar(BinaryOp op, const ElementwiseArgs& a, Scalar sc, bool reversed, Stream stream) {
  ICCRT_ASSERT(a.nargs == 2, "binary_scalar expects (out, x)");
  const cudaStream_t s = detail::as_stream(stream);
  const char* name = detail::binary_name(op);
  detail::dispatch_binary_op(op, [&](auto op_tag) {
    constexpr BinaryOp kOp = decltype(op_tag)::value;
    dispatch(a.dtype[1], [&](auto tag) {
      using T = typename decltype(tag)::type;
      using Out = detail::binary_out_t<kOp, T>;
      using M = opmath_t<T>;
      ICCRT_ASSERT(a.dtype[0] == DTypeOf<Out>::value, name, ": output dtype ", dtype_name(a.dtype[0]),
                   " does not match");
      const M v = sc.to<M>();
      if constexpr (kOp == BinaryOp::Pow && std::is_floating_point_v<M>) {
        // x ** 2 is common (squares in losses and norms): a multiply, exact where powf is within 2 ulp. The CPU
        // kernel takes the same shortcut, so both give x * x.
        if (!reversed && v == M(2)) return detail::launch_elementwise<Out, T>(a, SquareFn<T>{}, s, name);
      }
      detail::launch_elementwise<Out, T>(a, ScalarFn<kOp, T>{v, reversed}, s, name);
    });
  });
}

}  // namespace iccrt::kernels::cuda
