// Fused AdamW step over n contiguous elements, in place (Loshchilov & Hutter, decoupled weight decay), in the
// form PyTorch's torch.optim.AdamW uses:
//   g = maximize ? -grad : grad
//   param *= 1 - lr * weight_decay
//   m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
//   param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// The step-dependent factors are computed once in double; the per-element loop runs in opmath (float for
// 16-bit types, converted a block at a time) and vectorises.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/half_block.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cpu/parallel.hpp"

namespace iccrt::kernels::cpu {
namespace {

template <class M>
struct Coeffs {
  M decay, b1, one_minus_b1, b2, one_minus_b2, step_size, inv_sqrt_bc2, eps, sign;
};

template <class M>
Coeffs<M> coeffs(const AdamWArgs& a) {
  const double bc1 = 1.0 - std::pow(a.beta1, static_cast<double>(a.step));
  const double bc2 = 1.0 - std::pow(a.beta2, static_cast<double>(a.step));
  return Coeffs<M>{static_cast<M>(1.0 - a.lr * a.weight_decay),
                   static_cast<M>(a.beta1),
                   static_cast<M>(1.0 - a.beta1),
                   static_cast<M>(a.beta2),
                   static_cast<M>(1.0 - a.beta2),
                   static_cast<M>(a.lr / bc1),
                   static_cast<M>(1.0 / std::sqrt(bc2)),
                   static_cast<M>(a.eps),
                   static_cast<M>(a.maximize ? -1.0 : 1.0)};
}

// The update on opmath arrays; p, m, v are read and written.
template <class M>
void update(M* __restrict p, const M* __restrict g, M* __restrict m, M* __restrict v, int64_t n, const Coeffs<M>& k) {
  for (int64_t i = 0; i < n; ++i) {
    const M gi = k.sign * g[i];
    const M mi = k.b1 * m[i] + k.one_minus_b1 * gi;
    const M vi = k.b2 * v[i] + k.one_minus_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * k.decay - k.step_size * mi / (std::sqrt(vi) * k.inv_sqrt_bc2 + k.eps);
  }
}

template <class T>
void step(const AdamWArgs& a) {
  using M = opmath_t<T>;
  const Coeffs<M> k = coeffs<M>(a);
  T* p = static_cast<T*>(a.param);
  const T* g = static_cast<const T*>(a.grad);
  T* m = static_cast<T*>(a.exp_avg);
  T* v = static_cast<T*>(a.exp_avg_sq);
  detail::parallel_for(a.n, detail::kParallelGrain / 4, [&](int64_t b, int64_t e) {
    if constexpr (detail::is_half_like<T>) {
      constexpr int64_t kB = detail::kBlock;
      alignas(32) float pb[kB], gb[kB], mb[kB], vb[kB];
      for (int64_t s = b; s < e; s += kB) {
        const int64_t len = std::min(kB, e - s);
        detail::to_float(p + s, pb, len);
        detail::to_float(g + s, gb, len);
        detail::to_float(m + s, mb, len);
        detail::to_float(v + s, vb, len);
        update<float>(pb, gb, mb, vb, len, k);
        detail::from_float(pb, p + s, len);
        detail::from_float(mb, m + s, len);
        detail::from_float(vb, v + s, len);
      }
    } else {
      update<M>(p + b, g + b, m + b, v + b, e - b, k);
    }
  });
}

}  // namespace

void adamw_step(const AdamWArgs& a) {
  if (a.n <= 0) return;
  dispatch_floating(a.dtype, "adamw", [&](auto tag) { step<typename decltype(tag)::type>(a); });
}

}  // namespace iccrt::kernels::cpu
