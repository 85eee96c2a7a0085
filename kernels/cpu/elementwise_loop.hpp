#pragma once
// The strided N-d loop behind every elementwise kernel.
//
// Note [Elementwise loop]
// The index space is walked in runs along the innermost dim. A run whose output is contiguous and whose inputs
// are each contiguous or broadcast (stride 0) goes to a plain loop over typed pointers that the compiler
// vectorises; broadcast inputs are read once into a local first, so the loop carries no aliasing doubt about
// them. Anything else takes a strided loop. Large problems are cut into one contiguous chunk of the flat index
// space per thread; each chunk seeks its own start, so chunk edges may fall mid-row. The op and dtypes are
// resolved once, before the loop: the per-element code is a functor inlined into the loop body.
// float16/bfloat16 arithmetic happens in float on blocks converted by half_block.hpp.
#include <algorithm>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/common/kernel_args.hpp"
#include "kernels/cpu/half_block.hpp"
#include "kernels/cpu/nd_counter.hpp"
#include "kernels/cpu/parallel.hpp"

namespace iccrt::kernels::cpu::detail {

// Calls inner(char* const* ptrs, const int64_t* byte_strides, int64_t n) once per run of n elements along the
// innermost dim, for the N operands of `a` (operand 0 = output).
template <int N, class Inner>
void for_each_run(const ElementwiseArgs& a, int64_t grain, const Inner& inner) {
  if (a.numel <= 0) return;
  const int nd = a.ndim;
  const int64_t inner_size = nd > 0 ? a.shape[nd - 1] : 1;
  int64_t inner_stride[N];
  NdCounter<N> outer;
  outer.ndim = std::max(nd - 1, 0);
  for (int k = 0; k < N; ++k) {
    const int64_t size = itemsize(a.dtype[k]);
    inner_stride[k] = nd > 0 ? a.strides[k][nd - 1] * size : 0;
    for (int d = 0; d < outer.ndim; ++d) outer.strides[k][d] = a.strides[k][d] * size;
  }
  for (int d = 0; d < outer.ndim; ++d) outer.shape[d] = a.shape[d];

  parallel_for(a.numel, grain, [&](int64_t begin, int64_t end) {
    NdCounter<N> c = outer;
    c.seek(begin / inner_size);
    int64_t col = begin % inner_size;
    for (int64_t pos = begin; pos < end;) {
      const int64_t n = std::min(inner_size - col, end - pos);
      char* p[N];
      for (int k = 0; k < N; ++k) p[k] = a.data[k] + c.off[k] + col * inner_stride[k];
      inner(static_cast<char* const*>(p), static_cast<const int64_t*>(inner_stride), n);
      pos += n;
      col = 0;
      c.next();
    }
  });
}

// An input of a contiguous run: either a pointer or, when broadcast, a value loaded once.
template <class T, bool kBroadcast>
struct Src {
  using type = T;
  static constexpr bool kIsBroadcast = kBroadcast;
  using M = opmath_t<T>;
  const T* p;
  M v;
  M get(int64_t i) const {
    if constexpr (kBroadcast) {
      return v;
    } else {
      return static_cast<M>(p[i]);
    }
  }
};

// A source for elements [b, b + len) of a run: 16-bit floats are converted into `buf` first.
template <class T, bool kBroadcast>
auto block_src(const Src<T, kBroadcast>& s, int64_t b, int64_t len, float* buf) {
  if constexpr (kBroadcast) {
    return s;
  } else if constexpr (is_half_like<T>) {
    to_float(s.p + b, buf, len);
    return Src<float, false>{buf, 0.0f};
  } else {
    return Src<T, false>{s.p + b, {}};
  }
}

// A functor with a block(const float* in, float* out, n) member computes whole float arrays itself (the vector
// math of vec_math.hpp); it is used for runs of one contiguous float input (16-bit inputs after conversion).
template <class F, class = void>
struct HasBlock : std::false_type {};
template <class F>
struct HasBlock<F, std::void_t<decltype(&F::block)>> : std::true_type {};

template <class F, class... S>
constexpr bool use_block() {
  if constexpr (sizeof...(S) == 1) {
    return HasBlock<F>::value && !(S::kIsBroadcast && ...);
  } else {
    return false;
  }
}

template <class Out, class F, std::size_t... I, class... S>
void run_blocked(Out* out, int64_t n, const F& f, std::index_sequence<I...>, const S&... s) {
  alignas(32) float bufs[sizeof...(S) + 1][kBlock];
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t len = std::min(kBlock, n - b);
    auto body = [&](const auto&... bs) {
      if constexpr (is_half_like<Out> && use_block<F, S...>()) {
        float* tmp = bufs[sizeof...(S)];
        f.block((bs.p, ...), tmp, len);
        from_float(tmp, out + b, len);
      } else if constexpr (is_half_like<Out>) {
        float* tmp = bufs[sizeof...(S)];
        for (int64_t i = 0; i < len; ++i) tmp[i] = static_cast<float>(f(bs.get(i)...));
        from_float(tmp, out + b, len);
      } else {
        for (int64_t i = 0; i < len; ++i) out[b + i] = static_cast<Out>(f(bs.get(i)...));
      }
    };
    body(block_src(s, b, len, bufs[I])...);
  }
}

template <class Out, class F, class... S>
void run_contiguous(Out* out, int64_t n, const F& f, const S&... s) {
  if constexpr (is_half_like<Out> || (is_half_like<typename S::type> || ...)) {
    run_blocked(out, n, f, std::index_sequence_for<S...>{}, s...);
  } else if constexpr (use_block<F, S...>() && std::is_same_v<Out, float>) {
    f.block((s.p, ...), out, n);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<Out>(f(s.get(i)...));
  }
}

template <class T>
opmath_t<T> load_at(const char* p) {
  return static_cast<opmath_t<T>>(*reinterpret_cast<const T*>(p));
}

template <class Out, class... In, std::size_t... I, class F>
void run_strided(char* const* p, const int64_t* s, int64_t n, const F& f, std::index_sequence<I...>) {
  for (int64_t i = 0; i < n; ++i) {
    *reinterpret_cast<Out*>(p[0] + i * s[0]) = static_cast<Out>(f(load_at<In>(p[I + 1] + i * s[I + 1])...));
  }
}

template <class Out, class... In, class F>
void run_strided_tuple(const std::tuple<In...>*, char* const* p, const int64_t* s, int64_t n, const F& f) {
  run_strided<Out, In...>(p, s, n, f, std::index_sequence_for<In...>{});
}

// Resolves, one input at a time, whether it is broadcast, then runs the contiguous loop. Runs where every input
// (of two or more) is broadcast are rare enough to leave to the strided loop, which saves compiling a loop.
template <std::size_t I, bool kAllBroadcast, class InTuple, class Out, class F, class... Bound>
void bind_sources(char* const* p, const int64_t* s, Out* out, int64_t n, const F& f, const Bound&... bound) {
  constexpr std::size_t kInputs = std::tuple_size_v<InTuple>;
  if constexpr (I == kInputs) {
    run_contiguous(out, n, f, bound...);
  } else {
    using T = std::tuple_element_t<I, InTuple>;
    const T* q = reinterpret_cast<const T*>(p[I + 1]);
    if (s[I + 1] == 0) {
      if constexpr (kInputs > 1 && kAllBroadcast && I + 1 == kInputs) {
        run_strided_tuple<Out>(static_cast<const InTuple*>(nullptr), p, s, n, f);
      } else {
        bind_sources<I + 1, kAllBroadcast, InTuple>(p, s, out, n, f, bound...,
                                                    Src<T, true>{q, static_cast<opmath_t<T>>(*q)});
      }
    } else {
      bind_sources<I + 1, false, InTuple>(p, s, out, n, f, bound..., Src<T, false>{q, {}});
    }
  }
}

// out = f(in...) elementwise, where f takes and returns opmath values (float for 16-bit floats).
// Operand 0 of `a` has type Out, operand k+1 type In[k].
template <class Out, class... In, class F>
void map(const ElementwiseArgs& a, int64_t grain, const F& f) {
  constexpr int N = 1 + static_cast<int>(sizeof...(In));
  using Ins = std::tuple<In...>;
  for_each_run<N>(a, grain, [&](char* const* p, const int64_t* s, int64_t n) {
    bool fast = s[0] == static_cast<int64_t>(sizeof(Out));
    int k = 1;
    ((fast = fast && (s[k] == 0 || s[k] == static_cast<int64_t>(sizeof(In))), ++k), ...);
    if (fast) {
      bind_sources<0, true, Ins>(p, s, reinterpret_cast<Out*>(p[0]), n, f);
    } else {
      run_strided_tuple<Out>(static_cast<const Ins*>(nullptr), p, s, n, f);
    }
  });
}

}  // namespace iccrt::kernels::cpu::detail
