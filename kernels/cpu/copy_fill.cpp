// copy (with dtype conversion), fill and arange. See Note [Elementwise loop].
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/elementwise_loop.hpp"

namespace iccrt::kernels::cpu {
namespace {

using detail::kParallelGrain;
// Side of the square tiles of a transposing copy: 32 rows of 32 elements of up to 8 bytes stay in L1.
constexpr int64_t kTile = 32;

// The unsigned integer as wide as dtype `t`: same-dtype copies and fills only move bits.
template <class F>
void dispatch_bits(DType t, F&& f) {
  switch (itemsize(t)) {
    case 1: return f(TypeTag<uint8_t>{});
    case 2: return f(TypeTag<uint16_t>{});
    case 4: return f(TypeTag<uint32_t>{});
    case 8: return f(TypeTag<uint64_t>{});
    default: break;
  }
  ICCRT_ASSERT(false, "unexpected dtype ", static_cast<int>(t));
}

// x converted to the opmath type of Out, with the conversion rules of copy(): floats truncate toward zero into
// integers, anything into bool is x != 0 (NaN included), bool into a number is 0 or 1.
template <class Out, class M>
opmath_t<Out> convert(M x) {
  using OutM = opmath_t<Out>;
  if constexpr (std::is_same_v<Out, bool>) {
    return x != M(0);
  } else if constexpr (std::is_same_v<Out, uint8_t> && std::is_floating_point_v<M>) {
    // Through int64 so that negative values wrap modulo 256 (as NumPy and PyTorch do) instead of being
    // undefined behaviour.
    return static_cast<uint8_t>(static_cast<int64_t>(x));
  } else {
    return static_cast<OutM>(x);
  }
}

// Whether `a` (out, x) is a transpose in its last two dims: the output contiguous along the last dim while the
// input is contiguous along the one before. Row by row, such a copy touches a new cache line of the input per
// element and uses one value of it; copy_transposed works in square tiles instead, so that every line it loads
// is used in full while it is still in L1.
bool is_transposed_copy(const ElementwiseArgs& a) {
  const int nd = a.ndim;
  return nd >= 2 && a.shape[nd - 1] >= kTile && a.shape[nd - 2] >= kTile && a.strides[0][nd - 1] == 1 &&
         a.strides[1][nd - 2] == 1 && a.strides[1][nd - 1] != 1;
}

template <class U>
void copy_transposed(const ElementwiseArgs& a) {
  const int nd = a.ndim;
  const int64_t rows = a.shape[nd - 2], cols = a.shape[nd - 1];
  const int64_t out_row = a.strides[0][nd - 2], in_col = a.strides[1][nd - 1];
  detail::NdCounter<2> outer;
  outer.ndim = nd - 2;
  for (int d = 0; d < nd - 2; ++d) {
    outer.shape[d] = a.shape[d];
    outer.strides[0][d] = a.strides[0][d];
    outer.strides[1][d] = a.strides[1][d];
  }
  const int64_t tile_rows = (rows + kTile - 1) / kTile;
  const int64_t items = a.numel / (rows * cols) * tile_rows;  // (outer index, band of kTile rows)
  U* out = reinterpret_cast<U*>(a.data[0]);
  const U* in = reinterpret_cast<const U*>(a.data[1]);
  detail::parallel_for(items, std::max<int64_t>(1, kParallelGrain / (kTile * cols)), [&](int64_t b, int64_t e) {
    detail::NdCounter<2> c = outer;
    for (int64_t it = b; it < e; ++it) {
      c.seek(it / tile_rows);
      U* o = out + c.off[0];
      const U* x = in + c.off[1];
      const int64_t r0 = it % tile_rows * kTile, r1 = std::min(rows, r0 + kTile);
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const int64_t c1 = std::min(cols, c0 + kTile);
        for (int64_t r = r0; r < r1; ++r) {
          for (int64_t j = c0; j < c1; ++j) o[r * out_row + j] = x[r + j * in_col];
        }
      }
    }
  });
}

}  // namespace

void copy(const ElementwiseArgs& a) {
  if (a.dtype[0] == a.dtype[1]) {
    dispatch_bits(a.dtype[0], [&](auto tag) {
      using U = typename decltype(tag)::type;
      if (is_transposed_copy(a)) {
        copy_transposed<U>(a);
      } else {
        detail::map<U, U>(a, kParallelGrain, [](U x) { return x; });
      }
    });
    return;
  }
  dispatch(a.dtype[0], [&](auto out_tag) {
    using Out = typename decltype(out_tag)::type;
    dispatch(a.dtype[1], [&](auto in_tag) {
      using In = typename decltype(in_tag)::type;
      detail::map<Out, In>(a, kParallelGrain, [](opmath_t<In> x) { return convert<Out>(x); });
    });
  });
}

void fill(const ElementwiseArgs& a, Scalar v) {
  dispatch(a.dtype[0], [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T value = v.to<T>();
    // Stored as raw bits: the loop is then the same plain store for every dtype of a size.
    dispatch_bits(a.dtype[0], [&](auto bits_tag) {
      using U = typename decltype(bits_tag)::type;
      if constexpr (sizeof(U) == sizeof(T)) {
        U bits;
        std::memcpy(&bits, &value, sizeof(U));
        detail::map<U>(a, kParallelGrain, [bits]() { return bits; });
      }
    });
  });
}

void arange(void* out, DType dtype, int64_t n, Scalar start, Scalar step) {
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = static_cast<T*>(out);
    if constexpr (is_floating(DTypeOf<T>::value)) {
      const double s0 = start.to_double(), d = step.to_double();
      detail::parallel_for(n, kParallelGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) o[i] = static_cast<T>(s0 + static_cast<double>(i) * d);
      });
    } else {
      const int64_t s0 = start.to<int64_t>(), d = step.to<int64_t>();
      detail::parallel_for(n, kParallelGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) o[i] = static_cast<T>(s0 + i * d);
      });
    }
  });
}

}  // namespace iccrt::kernels::cpu
