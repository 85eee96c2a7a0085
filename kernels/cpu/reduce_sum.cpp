// Sum, mean and variance. Accumulators are wider than the data: float16/bfloat16 in float, float32 and float64
// in double, integers and bool in int64. Variance is two-pass (mean first, then squared deviations), which stays
// accurate where the one-pass sum-of-squares formula cancels catastrophically.
// See Note [Reduction strategies] in reduce_loop.hpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/cpu/half_block.hpp"
#include "kernels/cpu/reduce_loop.hpp"

namespace iccrt::kernels::cpu::detail {
namespace {

template <class T>
using acc_t = std::conditional_t<is_half_like<T>, float,
                                 std::conditional_t<std::is_floating_point_v<T>, double, int64_t>>;

// Sum over n contiguous elements (or of squared deviations from `mean` when kSquares). Independent
// accumulators, four vectors' worth, let the adds pipeline and vectorise; the fold at the end is pairwise.
template <bool kSquares, class Acc, class T>
Acc sum_contiguous(const T* p, int64_t n, Acc mean) {
  if constexpr (is_half_like<T>) {
    alignas(32) float buf[kBlock];
    Acc s = 0;
    for (int64_t b = 0; b < n; b += kBlock) {
      const int64_t len = std::min(kBlock, n - b);
      to_float(p + b, buf, len);
      s += sum_contiguous<kSquares, Acc>(buf, len, mean);
    }
    return s;
  } else {
    constexpr int kLanes = 128 / sizeof(Acc);
    if (n < 2 * kLanes) {  // short rows (sum over a small last dim): the lane setup and fold would dominate
      Acc s = 0;
      for (int64_t i = 0; i < n; ++i) {
        const Acc x = static_cast<Acc>(p[i]);
        if constexpr (kSquares) {
          s += (x - mean) * (x - mean);
        } else {
          s += x;
        }
      }
      return s;
    }
    Acc s[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) {
        if constexpr (kSquares) {
          const Acc d = static_cast<Acc>(p[i + j]) - mean;
          s[j] += d * d;
        } else {
          s[j] += static_cast<Acc>(p[i + j]);
        }
      }
    }
    // A separate tail accumulator: indexing the lanes with a variable would force them out of registers.
    Acc tail = 0;
    for (; i < n; ++i) {
      const Acc x = static_cast<Acc>(p[i]);
      if constexpr (kSquares) {
        tail += (x - mean) * (x - mean);
      } else {
        tail += x;
      }
    }
    for (int w = kLanes / 2; w > 0; w /= 2) {
      for (int j = 0; j < w; ++j) s[j] += s[j + w];
    }
    return s[0] + tail;
  }
}

template <bool kSquares, class Acc, class T>
Acc sum_strided(const T* p, int64_t stride, int64_t n, Acc mean) {
  Acc s[4] = {};
  for (int64_t i = 0; i < n; ++i) {
    const Acc x = static_cast<Acc>(static_cast<opmath_t<T>>(p[i * stride]));
    if constexpr (kSquares) {
      s[i & 3] += (x - mean) * (x - mean);
    } else {
      s[i & 3] += x;
    }
  }
  return (s[0] + s[1]) + (s[2] + s[3]);
}

template <bool kSquares, class Acc, class T>
Acc sum_run(const T* p, int64_t stride, int64_t n, Acc mean) {
  return stride == 1 ? sum_contiguous<kSquares, Acc>(p, n, mean) : sum_strided<kSquares, Acc>(p, stride, n, mean);
}

// Adds one row segment to the column accumulators (squared deviations from per-column means when kSquares).
template <bool kSquares, class Acc, class T>
void add_row(Acc* acc, const Acc* mean, const T* row, int64_t n, float* tmp) {
  if constexpr (is_half_like<T>) {
    to_float(row, tmp, n);
    add_row<kSquares, Acc>(acc, mean, static_cast<const float*>(tmp), n, nullptr);
  } else {
    for (int64_t j = 0; j < n; ++j) {
      const Acc x = static_cast<Acc>(row[j]);
      if constexpr (kSquares) {
        acc[j] += (x - mean[j]) * (x - mean[j]);
      } else {
        acc[j] += x;
      }
    }
  }
}

enum class SumOut { Sum, Mean, MeanBuffer, Var, VarFused };

// Writes v to element `off` of the output, typed when the output dtype is known at compile time (Out), through
// a dtype switch otherwise (Out = void).
template <class Out, class V>
void put(const ReduceArgs& a, int64_t off, V v) {
  if constexpr (std::is_void_v<Out>) {
    store_as(a.out_dtype, a.out, off, v);
  } else {
    reinterpret_cast<Out*>(a.out)[off] = static_cast<Out>(static_cast<opmath_t<Out>>(v));
  }
}

// kOut says what the policy computes: the sum, the mean, the mean kept in `means` for the second pass of a
// variance, that second pass (squared deviations from `means`), or both passes of a variance back to back on
// one output's row while it is in cache (VarFused: only when each output is one run reduced by one thread).
template <class T, SumOut kOut, class Out>
struct SumPolicy {
  using Acc = acc_t<T>;
  static constexpr bool kSquares = kOut == SumOut::Var;
  const ReduceArgs* a;
  std::vector<Acc>* means;  // written by MeanBuffer, read by Var

  struct State {
    Acc sum = 0;
    Acc mean = 0;
  };
  State init(int64_t o) const { return State{0, kSquares ? (*means)[o] : Acc(0)}; }
  void run(State& s, const T* p, int64_t stride, int64_t n, int64_t) const {
    if constexpr (kOut == SumOut::VarFused) {
      const Acc mean = sum_run<false, Acc>(p, stride, n, Acc(0)) / static_cast<Acc>(n);
      s.sum += sum_run<true, Acc>(p, stride, n, mean);
    } else {
      s.sum += sum_run<kSquares, Acc>(p, stride, n, s.mean);
    }
  }
  void merge(State& into, const State& later) const { into.sum += later.sum; }
  void finish(const State& s, int64_t o, int64_t out_off) const { emit(s.sum, o, out_off); }

  struct Cols {
    explicit Cols(int64_t n)
        : sum(static_cast<size_t>(n)), mean(kSquares ? static_cast<size_t>(n) : 0), tmp(static_cast<size_t>(n)) {}
    std::vector<Acc> sum, mean;
    std::vector<float> tmp;  // a 16-bit row converted to float
  };
  void col_init(Cols& c, int64_t o0, int64_t n, int64_t) const {
    std::fill(c.sum.begin(), c.sum.begin() + n, Acc(0));
    if constexpr (kSquares) {
      for (int64_t j = 0; j < n; ++j) c.mean[j] = (*means)[o0 + j];
    }
  }
  void col_row(Cols& c, const T* row, int64_t n, int64_t) const {
    add_row<kSquares, Acc>(c.sum.data(), c.mean.data(), row, n, c.tmp.data());
  }
  void col_merge(Cols& into, const Cols& later, int64_t n) const {
    for (int64_t j = 0; j < n; ++j) into.sum[j] += later.sum[j];
  }
  void col_finish(const Cols& c, int64_t o0, int64_t out_off, int64_t out_stride, int64_t n) const {
    for (int64_t j = 0; j < n; ++j) emit(c.sum[j], o0 + j, out_off + j * out_stride);
  }

  void emit(Acc sum, int64_t o, int64_t out_off) const {
    const int64_t count = a->red_numel;
    if constexpr (kOut == SumOut::Sum) {
      put<Out>(*a, out_off, sum);
    } else if constexpr (kOut == SumOut::Mean || kOut == SumOut::MeanBuffer) {
      // 0/0 gives the NaN an empty mean should be.
      const Acc mean = static_cast<Acc>(sum / static_cast<Acc>(count));
      if constexpr (kOut == SumOut::Mean) {
        put<Out>(*a, out_off, mean);
      } else {
        (*means)[o] = mean;
      }
    } else {
      const int64_t dof = count - a->correction;
      const Acc var = (count == 0 || dof <= 0) ? std::numeric_limits<Acc>::quiet_NaN()
                                                : static_cast<Acc>(sum / static_cast<Acc>(dof));
      put<Out>(*a, out_off, var);
    }
  }
};

// Runs kind kOut with the output type resolved once: the input dtype, int64 for integer sums, and any other
// combination through the per-element dtype switch.
template <class T, SumOut kOut>
void run_policy(const ReduceArgs& a, const ReduceLayout& L, std::vector<acc_t<T>>* means) {
  const T* in = reinterpret_cast<const T*>(a.in);
  auto go = [&](auto out_tag) {
    using Out = typename decltype(out_tag)::type;
    const SumPolicy<T, kOut, Out> pol{&a, means};
    if constexpr (kOut == SumOut::VarFused) {
      reduce_per_output(L, in, pol);
    } else {
      run_reduction(L, in, pol);
    }
  };
  if (a.out_dtype == DTypeOf<T>::value) {
    go(TypeTag<T>{});
  } else if constexpr (std::is_integral_v<T>) {
    if (a.out_dtype == DType::Int64) {
      go(TypeTag<int64_t>{});
    } else {
      go(TypeTag<void>{});
    }
  } else {
    go(TypeTag<void>{});
  }
}

}  // namespace

void reduce_sum_mean_var(const ReduceArgs& a, const ReduceLayout& L) {
  if (a.kind == ReduceKind::Sum) {
    dispatch(a.in_dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      run_policy<T, SumOut::Sum>(a, L, nullptr);
    });
    return;
  }
  dispatch_floating(a.in_dtype, a.kind == ReduceKind::Mean ? "mean" : "var", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (a.kind == ReduceKind::Mean) {
      run_policy<T, SumOut::Mean>(a, L, nullptr);
    } else if (!L.columns && L.red_outer.ndim == 0 && !per_output_splits(L)) {
      run_policy<T, SumOut::VarFused>(a, L, nullptr);
    } else {
      std::vector<acc_t<T>> means(static_cast<size_t>(a.out_numel));
      run_policy<T, SumOut::MeanBuffer>(a, L, &means);
      run_policy<T, SumOut::Var>(a, L, &means);
    }
  });
}

}  // namespace iccrt::kernels::cpu::detail
