// Max and min, with the flat index (row-major over the reduced dims) of the first extreme element. NaN counts
// as more extreme than any number, so the first NaN wins, as in PyTorch and NumPy.
// See Note [Reduction strategies] in reduce_loop.hpp.
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

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
  // Bitwise on ints rather than || and &&: no short-circuit branches in the column update loop.
  const int beyond = kMax ? x > best : x < best;
  return (beyond | (static_cast<int>(is_nan(x)) & static_cast<int>(!is_nan(best)))) != 0;
}

// 32-byte vectors (GCC/Clang vector extensions). Written as scalar code, a max is not vectorised: x > b ? x : b
// is not commutative once NaN is possible, so the compiler will not reassociate it across lanes.
template <class M>
struct Vec {
  typedef M type __attribute__((vector_size(32)));
};

// Index of the first extreme element of p[0, n), n > 0. The first pass finds the extreme value (and whether
// there is any NaN) in vector lanes; the second finds where it first occurs, which is cheaper than carrying an
// index per lane and stops early.
template <bool kMax, class M>
int64_t first_extreme(const M* p, int64_t n) {
  using V = typename Vec<M>::type;
  constexpr int W = 32 / sizeof(M);
  M best = p[0];
  bool nan = is_nan(best);
  int64_t i = 1;
  if (n >= 4 * W) {
    V b0, b1;
    std::memcpy(&b0, p, sizeof(V));
    std::memcpy(&b1, p + W, sizeof(V));
    auto nan_lanes = (b0 != b0) | (b1 != b1);
    for (i = 2 * W; i + 2 * W <= n; i += 2 * W) {
      V x0, x1;
      std::memcpy(&x0, p + i, sizeof(V));
      std::memcpy(&x1, p + i + W, sizeof(V));
      if constexpr (kMax) {
        b0 = x0 > b0 ? x0 : b0;
        b1 = x1 > b1 ? x1 : b1;
      } else {
        b0 = x0 < b0 ? x0 : b0;
        b1 = x1 < b1 ? x1 : b1;
      }
      if constexpr (std::is_floating_point_v<M>) nan_lanes |= (x0 != x0) | (x1 != x1);
    }
    for (int j = 0; j < W; ++j) {
      nan = nan || nan_lanes[j] != 0;
      if (kMax ? b0[j] > best : b0[j] < best) best = b0[j];
      if (kMax ? b1[j] > best : b1[j] < best) best = b1[j];
    }
  }
  for (; i < n; ++i) {
    if (kMax ? p[i] > best : p[i] < best) best = p[i];
    nan = nan || is_nan(p[i]);
  }
  if (nan) {
    for (int64_t j = 0; j < n; ++j) {
      if (is_nan(p[j])) return j;
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    if (p[j] == best) return j;
  }
  return 0;  // not reached: best is one of the values
}

template <class T, bool kMax>
struct ExtremePolicy {
  using M = opmath_t<T>;
  // bool cannot be a vector element; as bytes it orders the same.
  using Search = std::conditional_t<std::is_same_v<T, bool>, uint8_t, M>;
  const ReduceArgs* a;

  struct State {
    M value{};
    int64_t index = -1;  // -1: nothing seen yet
  };
  State init(int64_t) const { return State{}; }

  // Offers the element at flat index `at` with value x; later offers must have higher indices.
  static void offer(State& s, M x, int64_t at) {
    if (s.index < 0 || better<kMax>(x, s.value)) s = State{x, at};
  }

  void run(State& s, const T* p, int64_t stride, int64_t n, int64_t flat) const {
    if (n <= 0) return;
    if (stride != 1) {
      for (int64_t i = 0; i < n; ++i) offer(s, static_cast<M>(p[i * stride]), flat + i);
    } else if constexpr (is_half_like<T>) {
      alignas(32) float buf[kBlock];
      for (int64_t b = 0; b < n; b += kBlock) {
        const int64_t len = std::min(kBlock, n - b);
        to_float(p + b, buf, len);
        const int64_t j = first_extreme<kMax>(static_cast<const float*>(buf), len);
        offer(s, buf[j], flat + b + j);
      }
    } else {
      const int64_t j = first_extreme<kMax>(reinterpret_cast<const Search*>(p), n);
      offer(s, static_cast<M>(p[j]), flat + j);
    }
  }

  // `later` covers higher indices than `into`, so it must be strictly better to win.
  void merge(State& into, const State& later) const {
    if (later.index >= 0) offer(into, later.value, later.index);
  }

  void finish(const State& s, int64_t, int64_t out_off) const {
    reinterpret_cast<T*>(a->out)[out_off] = static_cast<T>(s.value);
    if (a->index) a->index[out_off] = s.index;
  }

  // Columns start from the identity (-inf / lowest for max) at the first row of the range, so that the row
  // update is a branch-free select: a column that never beats the identity really is the identity from its
  // first row on.
  struct Cols {
    explicit Cols(int64_t n)
        : value(static_cast<size_t>(n)), index(static_cast<size_t>(n)), tmp(static_cast<size_t>(n)) {}
    std::vector<Search> value;  // not vector<bool>, which packs bits
    std::vector<int64_t> index;
    std::vector<float> tmp;  // a 16-bit row converted to float
  };
  static M identity() {
    if constexpr (std::is_floating_point_v<M>) {
      return kMax ? -std::numeric_limits<M>::infinity() : std::numeric_limits<M>::infinity();
    } else {
      return kMax ? std::numeric_limits<M>::lowest() : std::numeric_limits<M>::max();
    }
  }
  void col_init(Cols& c, int64_t, int64_t n, int64_t first_row) const {
    for (int64_t j = 0; j < n; ++j) {
      c.value[j] = static_cast<Search>(identity());
      c.index[j] = first_row;
    }
  }
  void col_row(Cols& c, const T* row, int64_t n, int64_t r) const {
    if constexpr (is_half_like<T>) {
      to_float(row, c.tmp.data(), n);
      update(c, static_cast<const float*>(c.tmp.data()), n, r);
    } else {
      update(c, row, n, r);
    }
  }
  template <class S>
  static void update(Cols& c, const S* row, int64_t n, int64_t r) {
    Search* value = c.value.data();
    int64_t* index = c.index.data();
    for (int64_t j = 0; j < n; ++j) {
      const Search x = static_cast<Search>(static_cast<M>(row[j]));
      const bool take = better<kMax>(x, value[j]);
      value[j] = take ? x : value[j];
      index[j] = take ? r : index[j];
    }
  }
  void col_merge(Cols& into, const Cols& later, int64_t n) const {
    for (int64_t j = 0; j < n; ++j) {
      if (better<kMax>(later.value[j], into.value[j])) {
        into.value[j] = later.value[j];
        into.index[j] = later.index[j];
      }
    }
  }
  void col_finish(const Cols& c, int64_t, int64_t out_off, int64_t out_stride, int64_t n) const {
    for (int64_t j = 0; j < n; ++j) {
      reinterpret_cast<T*>(a->out)[out_off + j * out_stride] = static_cast<T>(c.value[j]);
      if (a->index) a->index[out_off + j * out_stride] = c.index[j];
    }
  }
};

}  // namespace

void reduce_max_min(const ReduceArgs& a, const ReduceLayout& L) {
  ICCRT_ASSERT(a.out_dtype == a.in_dtype, "max/min writes its input dtype, not ", static_cast<int>(a.out_dtype));
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
