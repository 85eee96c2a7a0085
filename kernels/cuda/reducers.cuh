#pragma once
// The reductions reduce.cu knows, as small value types: what an accumulator starts as, how an element is folded
// in, how two partial accumulators combine and how the result is written. The kernel in reduce.cu is written
// once against this interface.
//
//   acc_t identity()                                   the empty accumulator
//   ctx_t context(o)                                   per-output state, read once per output (Var's mean)
//   acc_t step(acc, x, r, ctx)                         fold in element x at reduced index r (r ascending)
//   acc_t combine(a, b)                                merge two partials; commutative, so shuffles may pair
//                                                      lanes either way and the result is still deterministic
//   void finalize(acc, o, out, out_off, dtype, index)  write the result of output o
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/numeric.cuh"

namespace iccrt::kernels::cuda::detail {

// Sums accumulate wider than the data: 16-bit floats in float, float32/64 in double, integers and bool in int64.
template <class T>
using sum_acc_t = std::conditional_t<is_float_v<T>, std::conditional_t<sizeof(T) == 2, float, double>, int64_t>;

template <class V>
__device__ __forceinline__ V shfl_xor(V v, int mask) {
  if constexpr (std::is_same_v<V, float> || std::is_same_v<V, double>) {
    return __shfl_xor_sync(0xffffffffu, v, mask);
  } else if constexpr (sizeof(V) == 8) {
    return static_cast<V>(__shfl_xor_sync(0xffffffffu, static_cast<long long>(v), mask));
  } else {
    return static_cast<V>(__shfl_xor_sync(0xffffffffu, static_cast<int>(v), mask));
  }
}

// Sum, Mean, and Var's first pass (the mean, written to a float buffer for the second pass).
enum class SumFinish : uint8_t { Sum, Mean, MeanToBuffer };

template <class T>
struct SumReducer {
  using acc_t = sum_acc_t<T>;
  struct ctx_t {};
  SumFinish finish = SumFinish::Sum;
  acc_t divisor = 1;          // red_numel, for the means
  acc_t* mean_out = nullptr;  // MeanToBuffer: out_numel accumulators, indexed by the linear output index

  __device__ __forceinline__ acc_t identity() const { return acc_t(0); }
  __device__ __forceinline__ ctx_t context(int64_t) const { return {}; }
  __device__ __forceinline__ acc_t step(acc_t acc, T x, int64_t, ctx_t) const {
    return acc + static_cast<acc_t>(to_op(x));
  }
  __device__ __forceinline__ acc_t combine(acc_t a, acc_t b) const { return a + b; }
  __device__ __forceinline__ acc_t shfl(acc_t a, int mask) const { return shfl_xor(a, mask); }
  __device__ __forceinline__ void finalize(acc_t acc, int64_t o, char* out, int64_t out_off, DType dtype,
                                           int64_t*) const {
    switch (finish) {
      case SumFinish::Sum: store_as(out, out_off, dtype, acc); break;
      case SumFinish::Mean: store_as(out, out_off, dtype, acc / divisor); break;  // 0/0 is NaN for R == 0
      case SumFinish::MeanToBuffer: mean_out[o] = acc / divisor; break;
    }
  }
};

// Var's second pass: the sum of squared deviations from the mean of the first pass, over N - correction.
template <class T>
struct SqDevReducer {
  using acc_t = sum_acc_t<T>;
  using ctx_t = acc_t;
  const acc_t* mean = nullptr;
  acc_t divisor = 1;  // red_numel - correction; <= 0 gives NaN

  __device__ __forceinline__ acc_t identity() const { return acc_t(0); }
  __device__ __forceinline__ ctx_t context(int64_t o) const { return mean[o]; }
  __device__ __forceinline__ acc_t step(acc_t acc, T x, int64_t, ctx_t m) const {
    const acc_t d = static_cast<acc_t>(to_op(x)) - m;
    return acc + d * d;
  }
  __device__ __forceinline__ acc_t combine(acc_t a, acc_t b) const { return a + b; }
  __device__ __forceinline__ acc_t shfl(acc_t a, int mask) const { return shfl_xor(a, mask); }
  __device__ __forceinline__ void finalize(acc_t acc, int64_t, char* out, int64_t out_off, DType dtype,
                                           int64_t*) const {
    const acc_t nan = acc_t(0) / acc_t(0);
    store_as(out, out_off, dtype, divisor > acc_t(0) ? acc / divisor : nan);
  }
};

// Max (kMax) or Min with the flat index of the first extreme element. NaN is larger and smaller than anything,
// so the first NaN wins; ties go to the smaller index. An index of -1 marks an empty accumulator.
template <class T, bool kMax>
struct ExtremeReducer {
  using V = opmath_t<T>;
  struct acc_t {
    V v;
    int64_t i;
  };
  struct ctx_t {};

  __device__ __forceinline__ acc_t identity() const { return {V(0), -1}; }
  __device__ __forceinline__ ctx_t context(int64_t) const { return {}; }
  __device__ __forceinline__ static bool better(V a, V b) { return kMax ? a > b : a < b; }
  __device__ __forceinline__ acc_t step(acc_t acc, T x, int64_t r, ctx_t) const {
    const V v = to_op(x);
    // r only grows within one thread, so on a tie the accumulator (the earlier element) stays.
    if (acc.i < 0 || (!is_nan(acc.v) && (is_nan(v) || better(v, acc.v)))) return {v, r};
    return acc;
  }
  __device__ __forceinline__ acc_t combine(acc_t a, acc_t b) const {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    const bool an = is_nan(a.v), bn = is_nan(b.v);
    if (an != bn) return an ? a : b;
    if (an || a.v == b.v) return a.i < b.i ? a : b;
    return better(a.v, b.v) ? a : b;
  }
  __device__ __forceinline__ acc_t shfl(acc_t a, int mask) const { return {shfl_xor(a.v, mask), shfl_xor(a.i, mask)}; }
  __device__ __forceinline__ void finalize(acc_t acc, int64_t, char* out, int64_t out_off, DType dtype,
                                           int64_t* index) const {
    store_as(out, out_off, dtype, acc.v);
    if (index != nullptr) index[out_off] = acc.i;
  }
};

}  // namespace iccrt::kernels::cuda::detail
