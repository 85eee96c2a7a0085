// Binary pointwise ops between two tensors: out = x op y (x, y of one dtype; out bool for comparisons).
#include "kernels/cuda/binary_ops.cuh"
#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/elementwise.cuh"

namespace iccrt::kernels::cuda {
namespace {

template <BinaryOp op, class T>
struct BinaryFn {
  __device__ __forceinline__ detail::binary_out_t<op, T> operator()(T x, T y) const {
    return detail::binary_compute<op, T>(detail::to_op(x), detail::to_op(y));
  }
};

}  // namespace

void binary(BinaryOp op, const ElementwiseArgs& a, Stream stream) {
  ICCRT_ASSERT(a.nargs == 3 && a.dtype[1] == a.dtype[2], "binary expects (out, x, y) with x, y of one dtype");
  const cudaStream_t s = detail::as_stream(stream);
  const char* name = detail::binary_name(op);
  detail::dispatch_binary_op(op, [&](auto op_tag) {
    constexpr BinaryOp kOp = decltype(op_tag)::value;
    dispatch(a.dtype[1], [&](auto tag) {
      using T = typename decltype(tag)::type;
      using Out = detail::binary_out_t<kOp, T>;
      ICCRT_ASSERT(a.dtype[0] == DTypeOf<Out>::value, name, ": output dtype ", dtype_name(a.dtype[0]),
                   " does not match");
      detail::launch_elementwise<Out, T, T>(a, BinaryFn<kOp, T>{}, s, name);
    });
  });
}

}  // namespace iccrt::kernels::cuda
