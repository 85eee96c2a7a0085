// Softmax and log-softmax along the middle dim of [outer, n, inner], forward and backward. Each row is
// handled whole: max, then sum of exp(x - max) in double lanes (Note [Row sums in double lanes]), then the
// outputs, so nothing overflows and a row's sum is exact to float rounding.
#include <array>
#include <cmath>

#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cpu/nn_row.hpp"

namespace iccrt::kernels::cpu {
namespace {

// exp costs a few multiply-adds per element; the grain counts multiply-adds.
constexpr int64_t kExpWork = 8;

template <class M>
void softmax_row(const M* x, M* y, int64_t n) {
  const M m = detail::row_max(x, n);
  const double s = detail::row_exp_sum<true>(x, m, y, n);
  const M inv = static_cast<M>(1.0 / s);
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

// (x - max) - log(sum): subtracting the max first keeps the largest entries exact.
template <class M>
void log_softmax_row(const M* x, M* y, int64_t n) {
  const M m = detail::row_max(x, n);
  const M ls = static_cast<M>(std::log(detail::row_exp_sum<false>(x, m, nullptr, n)));
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - ls;
}

// grad_in = y * (g - sum(g * y))
template <class M>
void softmax_backward_row(const M* g, const M* y, M* gi, int64_t n) {
  const M dot = static_cast<M>(detail::row_dot(g, y, n));
  for (int64_t i = 0; i < n; ++i) gi[i] = y[i] * (g[i] - dot);
}

// grad_in = g - exp(y) * sum(g), y being log-probabilities
template <class M>
void log_softmax_backward_row(const M* g, const M* y, M* gi, int64_t n) {
  const M s = static_cast<M>(detail::row_sum(g, n));
  detail::row_exp(y, gi, n);
  for (int64_t i = 0; i < n; ++i) gi[i] = g[i] - gi[i] * s;
}

}  // namespace

void softmax_forward(const SoftmaxArgs& a) {
  dispatch_floating(a.dtype, "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const std::array<const T*, 1> in{static_cast<const T*>(a.x)};
    T* out = static_cast<T*>(a.out);
    if (a.log) {
      detail::for_each_row<T, 1>(in, out, a.outer, a.n, a.inner, kExpWork,
                                 [](const auto& r, auto* y, int64_t n) { log_softmax_row(r[0], y, n); });
    } else {
      detail::for_each_row<T, 1>(in, out, a.outer, a.n, a.inner, kExpWork,
                                 [](const auto& r, auto* y, int64_t n) { softmax_row(r[0], y, n); });
    }
  });
}

void softmax_backward(const SoftmaxArgs& a) {
  dispatch_floating(a.dtype, "softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const std::array<const T*, 2> in{static_cast<const T*>(a.x), static_cast<const T*>(a.y)};
    T* out = static_cast<T*>(a.out);
    if (a.log) {
      detail::for_each_row<T, 2>(in, out, a.outer, a.n, a.inner, kExpWork, [](const auto& r, auto* gi, int64_t n) {
        log_softmax_backward_row(r[0], r[1], gi, n);
      });
    } else {
      detail::for_each_row<T, 2>(in, out, a.outer, a.n, a.inner, 2,
                                 [](const auto& r, auto* gi, int64_t n) { softmax_backward_row(r[0], r[1], gi, n); });
    }
  });
}

}  // namespace iccrt::kernels::cpu
