// layer_norm and rms_norm over the rows of [rows, cols], forward and backward. Row statistics come from
// double-lane sums (Note [Row sums in double lanes]); layer_norm's variance is the two-pass sum of squared
// deviations, which stays accurate when |mean| >> std. The elementwise loops run on float (or double) rows
// and vectorise. Weight and bias gradients are summed over rows per thread into double partials, which are
// added into the caller's accumulators in a fixed order, so a run's result does not depend on scheduling.
#include <cmath>
#include <vector>

#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cpu/nn_row.hpp"

namespace iccrt::kernels::cpu {
namespace {

// A [cols] parameter as opmath values: itself for float / double, a converted copy for 16-bit types; null
// stays null.
template <class T>
const opmath_t<T>* param_row(const void* p, int64_t cols, std::vector<opmath_t<T>>& keep) {
  if (!p) return nullptr;
  if constexpr (detail::is_half_like<T>) {
    keep.resize(static_cast<size_t>(cols));
    detail::to_float(static_cast<const T*>(p), keep.data(), cols);
    return keep.data();
  } else {
    return static_cast<const T*>(p);
  }
}

// Per-element work of a row in multiply-adds, for the parallel grain.
constexpr int64_t kRowWork = 4;

template <class T>
void forward(const NormArgs& a) {
  using M = opmath_t<T>;  // also the stat type
  std::vector<M> wkeep, bkeep;
  const M* w = param_row<T>(a.weight, a.cols, wkeep);
  const M* bias = param_row<T>(a.bias, a.cols, bkeep);
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  M* mean_out = static_cast<M*>(a.mean);
  M* rstd_out = static_cast<M*>(a.rstd);
  const int64_t cols = a.cols;
  const int64_t grain = std::max<int64_t>(1, detail::kParallelGrain / kRowWork / std::max<int64_t>(cols, 1));
  detail::parallel_for(a.rows, grain, [&](int64_t b, int64_t e) {
    std::vector<M> buf(detail::is_half_like<T> ? static_cast<size_t>(2 * cols) : 0);
    for (int64_t r = b; r < e; ++r) {
      const M* xr = detail::load_row(x + r * cols, cols, buf.data());
      M* yr = detail::out_row(y + r * cols, buf.data() + cols);
      double mu = 0.0, ms;
      if (a.rms) {
        ms = detail::row_dot(xr, xr, cols) / static_cast<double>(cols);
      } else {
        mu = detail::row_sum(xr, cols) / static_cast<double>(cols);
        ms = detail::row_sq_dev(xr, mu, cols) / static_cast<double>(cols);
      }
      const double rs = 1.0 / std::sqrt(ms + a.eps);
      const M m = static_cast<M>(mu), s = static_cast<M>(rs);
      if (w && bias) {
        for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - m) * s * w[j] + bias[j];
      } else if (w) {
        for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - m) * s * w[j];
      } else if (bias) {
        for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - m) * s + bias[j];
      } else {
        for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - m) * s;
      }
      detail::store_row(yr, y + r * cols, cols);
      if (mean_out) mean_out[r] = m;
      rstd_out[r] = s;
    }
  });
}

// Note [Norm backward]
// With xhat = (x - mean) * rstd and gw = grad_out * weight (grad_out without a weight):
//   layer_norm: grad_in = rstd * (gw - mean(gw) - xhat * mean(gw * xhat))
//   rms_norm:   xhat = x * rstd,  grad_in = rstd * (gw - xhat * mean(gw * xhat))
//   grad_weight = sum over rows of grad_out * xhat,  grad_bias = sum over rows of grad_out.
template <class T>
void backward(const NormArgs& a) {
  using M = opmath_t<T>;
  std::vector<M> wkeep;
  const M* w = param_row<T>(a.weight, a.cols, wkeep);
  const T* x = static_cast<const T*>(a.x);
  const T* g = static_cast<const T*>(a.grad_out);
  T* gi = static_cast<T*>(a.grad_in);
  const M* mean = static_cast<const M*>(a.mean);
  const M* rstd = static_cast<const M*>(a.rstd);
  M* gw_out = static_cast<M*>(a.grad_weight);
  M* gb_out = static_cast<M*>(a.grad_bias);
  const int64_t cols = a.cols;
  const double inv_cols = 1.0 / static_cast<double>(cols);
  const int64_t grain = std::max<int64_t>(1, detail::kParallelGrain / (2 * kRowWork) / std::max<int64_t>(cols, 1));
  const int chunks = detail::num_chunks(a.rows, grain);
  // Per-chunk [cols] partial sums of the parameter gradients.
  std::vector<double> part_w(gw_out ? static_cast<size_t>(chunks * cols) : 0);
  std::vector<double> part_b(gb_out ? static_cast<size_t>(chunks * cols) : 0);
  detail::parallel_chunks(a.rows, chunks, [&](int c, int64_t b, int64_t e) {
    // xhat, gw, and (16-bit types) the converted x, grad_out and grad_in rows.
    std::vector<M> buf(static_cast<size_t>((detail::is_half_like<T> ? 5 : 2) * cols));
    M* xhat = buf.data();
    M* gw = buf.data() + cols;
    double* pw = gw_out ? part_w.data() + c * cols : nullptr;
    double* pb = gb_out ? part_b.data() + c * cols : nullptr;
    for (int64_t r = b; r < e; ++r) {
      const M* xr = detail::load_row(x + r * cols, cols, buf.data() + 2 * cols);
      const M* gr = detail::load_row(g + r * cols, cols, buf.data() + 3 * cols);
      const M m = mean ? mean[r] : M(0), s = rstd[r];
      const M* gwr = gr;
      if (w) {
        for (int64_t j = 0; j < cols; ++j) {
          xhat[j] = (xr[j] - m) * s;
          gw[j] = gr[j] * w[j];
        }
        gwr = gw;
      } else {
        for (int64_t j = 0; j < cols; ++j) xhat[j] = (xr[j] - m) * s;
      }
      if (pw && pb) {
        for (int64_t j = 0; j < cols; ++j) {
          pw[j] += static_cast<double>(gr[j]) * xhat[j];
          pb[j] += gr[j];
        }
      } else if (pw) {
        for (int64_t j = 0; j < cols; ++j) pw[j] += static_cast<double>(gr[j]) * xhat[j];
      } else if (pb) {
        for (int64_t j = 0; j < cols; ++j) pb[j] += gr[j];
      }
      if (!gi) continue;
      double sum_gw, dot;
      detail::row_sum_dot(xhat, gwr, cols, sum_gw, dot);
      const M c1 = a.rms ? M(0) : static_cast<M>(sum_gw * inv_cols), c2 = static_cast<M>(dot * inv_cols);
      M* out = detail::out_row(gi + r * cols, buf.data() + 4 * cols);
      for (int64_t j = 0; j < cols; ++j) out[j] = s * ((gwr[j] - c1) - xhat[j] * c2);
      detail::store_row(out, gi + r * cols, cols);
    }
  });
  // Chunk partials in chunk order, then added to what the accumulators hold.
  auto merge = [&](const std::vector<double>& part, M* acc) {
    if (!acc) return;
    detail::parallel_for(cols, detail::kParallelGrain / std::max(chunks, 1), [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) {
        double s = 0.0;
        for (int c = 0; c < chunks; ++c) s += part[static_cast<size_t>(c * cols + j)];
        acc[j] = static_cast<M>(acc[j] + s);
      }
    });
  };
  merge(part_w, gw_out);
  merge(part_b, gb_out);
}

}  // namespace

void norm_forward(const NormArgs& a) {
  if (a.rows <= 0) return;
  dispatch_floating(a.dtype, a.rms ? "rms_norm" : "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    forward<T>(a);
  });
}

void norm_backward(const NormArgs& a) {
  if (a.rows <= 0) return;
  dispatch_floating(a.dtype, a.rms ? "rms_norm_backward" : "layer_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backward<T>(a);
  });
}

}  // namespace iccrt::kernels::cpu
