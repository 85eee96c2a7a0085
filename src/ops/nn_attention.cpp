// Scaled dot-product attention: argument checks, the [batch, t, d] views the kernels take, and dispatch.
// The kernels (kernels/cpu/attention.cpp, kernels/cuda/attention.cu) are blocked over queries and keys with an
// online softmax; only lse [..., tq] is saved for the backward, which recomputes the probabilities from it.
#include <cmath>
#include <limits>

#include "iccrt/ops/nn.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cuda/nn_kernels.hpp"
#include "src/ops/nn_common.hpp"
#include "src/ops/op_common.hpp"

namespace iccrt::ops {
namespace {

constexpr const char* kFwd = "scaled_dot_product_attention";
constexpr const char* kBwd = "scaled_dot_product_attention_backward";

// Sizes shared by the forward and backward checks.
struct AttnShape {
  Shape lead;  // the leading dims, e.g. [B, H]
  int64_t batch = 1, tq = 0, tk = 0, d = 0, dv = 0;
};

Shape with_tail(Shape s, std::initializer_list<int64_t> tail) {
  s.insert(s.end(), tail);
  return s;
}

AttnShape check_qkv(const char* op, const Tensor& q, const Tensor& k, const Tensor& v) {
  detail::check_floating(op, "query", q);
  detail::check_dtype(op, "key", k, q.dtype());
  detail::check_dtype(op, "value", v, q.dtype());
  detail::common_device(op, {&q, &k, &v});
  ICCRT_CHECK_SHAPE(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, op,
                    ": expected query, key and value of at least 2 dims ([..., T, D]) but got shapes ", q.shape(), ", ",
                    k.shape(), " and ", v.shape());
  AttnShape s;
  s.lead = Shape(q.shape().begin(), q.shape().end() - 2);
  s.tq = q.size(-2);
  s.d = q.size(-1);
  s.tk = k.size(-2);
  s.dv = v.size(-1);
  const Shape k_lead(k.shape().begin(), k.shape().end() - 2), v_lead(v.shape().begin(), v.shape().end() - 2);
  ICCRT_CHECK_SHAPE(k_lead == s.lead && v_lead == s.lead, op,
                    ": expected query, key and value with the same leading dims but got shapes ", q.shape(), ", ",
                    k.shape(), " and ", v.shape());
  ICCRT_CHECK_SHAPE(k.size(-1) == s.d, op, ": expected key of head size ", s.d, " (the query's) but got shape ",
                    k.shape());
  ICCRT_CHECK_SHAPE(v.size(-2) == s.tk, op, ": expected value with ", s.tk, " positions (the key's) but got shape ",
                    v.shape());
  s.batch = shape_numel(s.lead);
  return s;
}

double resolve_scale(const char* op, double scale, int64_t d) {
  ICCRT_CHECK_VALUE(std::isfinite(scale), op, ": expected a finite scale but got ", scale);
  if (scale > 0.0) return scale;
  return d > 0 ? 1.0 / std::sqrt(static_cast<double>(d)) : 1.0;  // d == 0: every score is 0 whatever the scale
}

kernels::AttentionArgs make_args(const AttnShape& s, const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                                 double scale) {
  kernels::AttentionArgs a;
  a.q = q.data_ptr();
  a.k = k.data_ptr();
  a.v = v.data_ptr();
  a.dtype = q.dtype();
  a.batch = s.batch;
  a.tq = s.tq;
  a.tk = s.tk;
  a.d = s.d;
  a.dv = s.dv;
  a.scale = scale;
  a.causal = causal;
  return a;
}

}  // namespace

AttentionResult scaled_dot_product_attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, bool causal,
                                             double scale) {
  const AttnShape s = check_qkv(kFwd, q_in, k_in, v_in);
  const Device dev = q_in.device();
  scale = resolve_scale(kFwd, scale, s.d);
  const Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
  const DType stat = detail::stat_dtype(q.dtype());
  AttentionResult r;
  r.out = empty(with_tail(s.lead, {s.tq, s.dv}), TensorOptions(q.dtype(), dev));
  r.lse = empty(with_tail(s.lead, {s.tq}), TensorOptions(stat, dev));
  if (s.batch == 0 || s.tq == 0) return r;
  kernels::AttentionArgs a = make_args(s, q, k, v, causal, scale);
  a.out = r.out.data_ptr();
  a.lse = r.lse.data_ptr();
  detail::run_on(
      dev, [&] { kernels::cpu::attention_forward(a); },
      [&](void* stream) { kernels::cuda::attention_forward(a, stream); });
  return r;
}

AttentionGrads scaled_dot_product_attention_backward(const Tensor& grad_out_in, const Tensor& q_in, const Tensor& k_in,
                                                     const Tensor& v_in, const Tensor& out_in, const Tensor& lse_in,
                                                     bool causal, double scale) {
  const AttnShape s = check_qkv(kBwd, q_in, k_in, v_in);
  const DType dtype = q_in.dtype(), stat = detail::stat_dtype(dtype);
  detail::check_dtype(kBwd, "grad_out", grad_out_in, dtype);
  detail::check_dtype(kBwd, "out", out_in, dtype);
  detail::check_dtype(kBwd, "lse", lse_in, stat);
  const Device dev = detail::common_device(kBwd, {&q_in, &k_in, &v_in, &grad_out_in, &out_in, &lse_in});
  detail::check_shape(kBwd, "grad_out", grad_out_in, with_tail(s.lead, {s.tq, s.dv}));
  detail::check_shape(kBwd, "out", out_in, with_tail(s.lead, {s.tq, s.dv}));
  detail::check_shape(kBwd, "lse", lse_in, with_tail(s.lead, {s.tq}));
  scale = resolve_scale(kBwd, scale, s.d);

  const Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
  const Tensor grad_out = grad_out_in.contiguous(), out = out_in.contiguous(), lse = lse_in.contiguous();
  // Gradients accumulate in the stat dtype (the kernels add into them), then take the inputs' dtype.
  const TensorOptions acc(stat, dev);
  Tensor gq = zeros(q.shape(), acc), gk = zeros(k.shape(), acc), gv = zeros(v.shape(), acc);
  if (s.batch > 0 && (s.tq > 0 || s.tk > 0)) {
    kernels::AttentionArgs a = make_args(s, q, k, v, causal, scale);
    a.out = out.data_ptr();
    a.lse = lse.data_ptr();
    a.grad_out = grad_out.data_ptr();
    a.grad_q = gq.data_ptr();
    a.grad_k = gk.data_ptr();
    a.grad_v = gv.data_ptr();
    detail::run_on(
        dev, [&] { kernels::cpu::attention_backward(a); },
        [&](void* stream) { kernels::cuda::attention_backward(a, stream); });
  }
  return {gq.to(dtype), gk.to(dtype), gv.to(dtype)};
}

}  // namespace iccrt::ops
