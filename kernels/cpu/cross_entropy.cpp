// Fused cross-entropy over the rows of logits [n, c]: the forward computes each row's log-sum-exp and loss in
// one sweep (no softmax tensor); the backward rebuilds the softmax from the saved lse.
//
// Note [Cross-entropy with label smoothing]
// The target distribution is q = (1 - ls) * one_hot(t) + ls / c, so
//   loss = -sum_j q_j * log_softmax_j = lse - (1 - ls) * x_t - (ls / c) * sum_j x_j
//   d loss / d x_j = softmax_j - q_j = exp(x_j - lse) - ls / c - (1 - ls) * [j == t].
#include <cmath>
#include <vector>

#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cpu/nn_row.hpp"

namespace iccrt::kernels::cpu {
namespace {

constexpr int64_t kExpWork = 8;

int64_t row_grain(int64_t c) {
  return std::max<int64_t>(1, detail::kParallelGrain / kExpWork / std::max<int64_t>(c, 1));
}

template <class T>
void forward(const CrossEntropyArgs& a) {
  using M = opmath_t<T>;  // also the stat type
  const T* logits = static_cast<const T*>(a.logits);
  M* loss = static_cast<M*>(a.loss_rows);
  M* lse_out = static_cast<M*>(a.lse);
  const int64_t c = a.c;
  const double ls = a.label_smoothing;
  detail::parallel_for(a.n, row_grain(c), [&](int64_t b, int64_t e) {
    std::vector<M> buf(detail::is_half_like<T> ? static_cast<size_t>(c) : 0);
    for (int64_t r = b; r < e; ++r) {
      const M* x = detail::load_row(logits + r * c, c, buf.data());
      const M m = detail::row_max(x, c);
      const double lse = static_cast<double>(m) + std::log(detail::row_exp_sum<false>(x, m, nullptr, c));
      lse_out[r] = static_cast<M>(lse);
      const int64_t t = a.target[r];
      if (t == a.ignore_index) {
        loss[r] = M(0);
        continue;
      }
      double l = lse - (1.0 - ls) * static_cast<double>(x[t]);
      if (ls > 0.0) l -= ls / static_cast<double>(c) * detail::row_sum(x, c);
      loss[r] = static_cast<M>(l);
    }
  });
}

template <class T>
void backward(const CrossEntropyArgs& a) {
  using M = opmath_t<T>;
  const T* logits = static_cast<const T*>(a.logits);
  const M* lse = static_cast<const M*>(a.lse);
  const M* scale = static_cast<const M*>(a.row_scale);
  T* grad = static_cast<T*>(a.grad_logits);
  const int64_t c = a.c;
  const M smooth = static_cast<M>(a.label_smoothing / static_cast<double>(c));
  const M hit = static_cast<M>(1.0 - a.label_smoothing);
  detail::parallel_for(a.n, row_grain(c), [&](int64_t b, int64_t e) {
    std::vector<M> buf(detail::is_half_like<T> ? static_cast<size_t>(2 * c) : 0);
    for (int64_t r = b; r < e; ++r) {
      M* out = detail::out_row(grad + r * c, buf.data() + c);
      const int64_t t = a.target[r];
      if (t == a.ignore_index) {
        for (int64_t j = 0; j < c; ++j) out[j] = M(0);
      } else {
        const M* x = detail::load_row(logits + r * c, c, buf.data());
        const M s = scale[r];
        detail::row_exp_sum<true>(x, lse[r], out, c);
        for (int64_t j = 0; j < c; ++j) out[j] = s * (out[j] - smooth);
        out[t] -= s * hit;
      }
      detail::store_row(out, grad + r * c, c);
    }
  });
}

}  // namespace

void cross_entropy_forward(const CrossEntropyArgs& a) {
  if (a.n <= 0) return;
  dispatch_floating(a.dtype, "cross_entropy", [&](auto tag) { forward<typename decltype(tag)::type>(a); });
}

void cross_entropy_backward(const CrossEntropyArgs& a) {
  if (a.n <= 0) return;
  dispatch_floating(a.dtype, "cross_entropy_backward", [&](auto tag) { backward<typename decltype(tag)::type>(a); });
}

}  // namespace iccrt::kernels::cpu
