// where(cond, x, y): out = cond ? x : y. Only moves bits, so it dispatches on element size, not dtype.
#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/elementwise.cuh"

namespace iccrt::kernels::cuda {
namespace {

template <class B>
struct WhereFn {
  // The condition is read as a byte rather than as bool: a bool load of a byte other than 0/1 is undefined.
  __device__ __forceinline__ B operator()(uint8_t c, B x, B y) const { return c ? x : y; }
};

}  // namespace

void where(const ElementwiseArgs& a, Stream stream) {
  ICCRT_ASSERT(a.nargs == 4 && a.dtype[1] == DType::Bool && a.dtype[0] == a.dtype[2] && a.dtype[0] == a.dtype[3],
               "where expects (out, cond bool, x, y) with out, x, y of one dtype");
  detail::dispatch_bits(a.dtype[0], [&](auto tag) {
    using B = typename decltype(tag)::type;
    detail::launch_elementwise<B, uint8_t, B, B>(a, WhereFn<B>{}, detail::as_stream(stream), "where");
  });
}

}  // namespace iccrt::kernels::cuda
