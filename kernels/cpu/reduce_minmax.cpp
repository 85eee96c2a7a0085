// Max and min, with the flat index (row-major over the reduced dims) of the first extreme element. NaN counts
// as more extreme than any number, so the first NaN wins, as in PyTorch and NumPy.
// See Note [Reduction strategies] in reduce_loop.hpp.
#include <cstdint>
#include <type_traits>

#include "kernels/cpu/half_block.hpp"
#include "kernels/cpu/reduce_loop.hpp"

namespace iccrt::kernels::cpu::detail {
namespace {

template <class M>
bool is_nan(M x) {
  if constexpr (std::is_floating_point_v<M>) {
    return x != x;
  } else {
    return false;
  }
}

// Whether x replaces the current extreme `best`; strict, so that among equals the first stays.
template <bool kMax, class M>
bool better(M x, M best) {
  const bool beyond = kMax ? x > best : x < best;
  return beyond || (is_nan(x) && !is_nan(best));
}

template <class T, bool kMax>
struct ExtremePolicy {
  using M = opmath_t<T>;
  const ReduceArgs* a;

  struct State {
    M value{};
    int64_t index = -1;  // -1: nothing seen yet
  };
  State init(int64_t) const { return State{}; }

  void run(State& s, const T* p, int64_t stride, int64_t n, int64_t flat) const {
    if (n <= 0) return;
    if (s.index < 0) s = State{static_cast<M>(p[0]), flat};
    // Value and position of the run's best, kept apart from the state so the loop carries only locals.
    M best = s.value;
    int64_t at = -1;
    if (stride == 1) {
      for (int64_t i = 0; i < n; ++i) {
        const M x = static_cast<M>(p[i]);
        if (better<kMax>(x, best)) {
          best = x;
          at = i;
        }
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const M x = static_cast<M>(p[i * stride]);
        if (better<kMax>(x, best)) {
          best = x;
          at = i;
        }
      }
    }
    if (at >= 0) s = State{best, flat + at};
  }

  // `later` covers higher indices than `into`, so it must be strictly better to win.
  void merge(State& into, const State& later) const {
    if (later.index >= 0 && (into.index < 0 || better<kMax>(later.value, into.value))) into = later;
  }

  void finish(const State& s, int64_t, int64_t out_off) const {
    store_as(a->out_dtype, a->out, out_off, s.value);
    if (a->index) a->index[out_off] = s.index;
  }

  struct Cols {
    M value[kColumnBlock];
    int64_t index[kColumnBlock];
    alignas(32) float tmp[kColumnBlock];
  };
  void col_init(Cols& c, int64_t, int64_t n) const {
    for (int64_t j = 0; j < n; ++j) c.index[j] = -1;
  }
  void col_row(Cols& c, const T* row, int64_t n, int64_t r) const {
    if constexpr (is_half_like<T>) {
      to_float(row, c.tmp, n);
      update(c, c.tmp, n, r);
    } else {
      update(c, row, n, r);
    }
  }
  template <class S>
  static void update(Cols& c, const S* row, int64_t n, int64_t r) {
    for (int64_t j = 0; j < n; ++j) {
      const M x = static_cast<M>(row[j]);
      const bool take = (c.index[j] < 0) | better<kMax>(x, c.value[j]);
      c.value[j] = take ? x : c.value[j];
      c.index[j] = take ? r : c.index[j];
    }
  }
  void col_merge(Cols& into, const Cols& later, int64_t n) const {
    for (int64_t j = 0; j < n; ++j) {
      if (later.index[j] >= 0 && (into.index[j] < 0 || better<kMax>(later.value[j], into.value[j]))) {
        into.value[j] = later.value[j];
        into.index[j] = later.index[j];
      }
    }
  }
  void col_finish(const Cols& c, int64_t, int64_t out_off, int64_t out_stride, int64_t n) const {
    for (int64_t j = 0; j < n; ++j) {
      store_as(a->out_dtype, a->out, out_off + j * out_stride, c.value[j]);
      if (a->index) a->index[out_off + j * out_stride] = c.index[j];
    }
  }
};

}  // namespace

void reduce_max_min(const ReduceArgs& a, const ReduceLayout& L) {
  dispatch(a.in_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = reinterpret_cast<const T*>(a.in);
    if (a.kind == ReduceKind::Max) {
      run_reduction(L, in, ExtremePolicy<T, true>{&a});
    } else {
      run_reduction(L, in, ExtremePolicy<T, false>{&a});
    }
  });
}

}  // namespace iccrt::kernels::cpu::detail
