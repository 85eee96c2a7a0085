// Differentiable model ops (include/iccrt/nn/functional.hpp): the raw forward and backward of
// include/iccrt/ops/nn.hpp joined on the tape, with the autocast casts in front.
#include "iccrt/autograd/autocast.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/nn/functional.hpp"
#include "src/autograd/function_helpers.hpp"

namespace iccrt {

using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;
using autograd::detail::autocast_float32;
using autograd::detail::autocast_lower;
using autograd::detail::raw;

Tensor softmax(const Tensor& x_in, int64_t dim) {
  const Tensor x = autocast_float32(x_in);
  Tensor out = raw([&] { return ops::softmax(x, dim); });
  if (!autograd::any_requires_grad({&x})) return out;
  SavedTensor so(out);
  return record("SoftmaxBackward", {x}, out,
                [so, dim](const Tensor& g) { return TensorList{ops::softmax_backward(g, so.get(), dim)}; });
}

Tensor log_softmax(const Tensor& x_in, int64_t dim) {
  const Tensor x = autocast_float32(x_in);
  Tensor out = raw([&] { return ops::log_softmax(x, dim); });
  if (!autograd::any_requires_grad({&x})) return out;
  SavedTensor so(out);
  return record("LogSoftmaxBackward", {x}, out,
                [so, dim](const Tensor& g) { return TensorList{ops::log_softmax_backward(g, so.get(), dim)}; });
}

Tensor layer_norm(const Tensor& x_in, const Shape& normalized_shape, const Tensor& weight_in, const Tensor& bias_in,
                  double eps) {
  const Tensor x = autocast_float32(x_in);
  // Under autocast the affine parameters follow x to float32 (they usually are already).
  const Tensor weight = weight_in.defined() ? autocast_float32(weight_in) : weight_in;
  const Tensor bias = bias_in.defined() ? autocast_float32(bias_in) : bias_in;
  ops::NormResult r = raw([&] { return ops::layer_norm(x, normalized_shape, weight, bias, eps); });
  if (!autograd::any_requires_grad({&x, &weight, &bias})) return r.out;
  SavedTensor sx(x), sw(weight), sb(bias), smean(r.mean), srstd(r.rstd);
  const bool nx = x.requires_grad(), nw = weight.defined() && weight.requires_grad(),
             nb = bias.defined() && bias.requires_grad();
  return record("LayerNormBackward", {x, weight, bias}, TensorList{r.out}, [=](const TensorList& g) {
    ops::NormGrads gr = ops::layer_norm_backward(g[0], sx.get(), normalized_shape, smean.get(), srstd.get(), sw.get(),
                                                 sb.get(), {nx, nw, nb});
    return TensorList{gr.grad_input, gr.grad_weight, gr.grad_bias};
  })[0];
}

Tensor rms_norm(const Tensor& x_in, const Shape& normalized_shape, const Tensor& weight_in, double eps) {
  const Tensor x = autocast_float32(x_in);
  const Tensor weight = weight_in.defined() ? autocast_float32(weight_in) : weight_in;
  ops::NormResult r = raw([&] { return ops::rms_norm(x, normalized_shape, weight, eps); });
  if (!autograd::any_requires_grad({&x, &weight})) return r.out;
  SavedTensor sx(x), sw(weight), srstd(r.rstd);
  const bool nx = x.requires_grad(), nw = weight.defined() && weight.requires_grad();
  return record("RmsNormBackward", {x, weight}, TensorList{r.out}, [=](const TensorList& g) {
    ops::NormGrads gr = ops::rms_norm_backward(g[0], sx.get(), normalized_shape, srstd.get(), sw.get(), {nx, nw});
    return TensorList{gr.grad_input, gr.grad_weight};
  })[0];
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  ICCRT_CHECK_SHAPE(weight.defined() && weight.dim() == 2, "linear: weight must be 2-D [out_features, in_features], got ",
                    weight.defined() ? weight.shape() : Shape{});
  ICCRT_CHECK_SHAPE(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input has ", x.dim() >= 1 ? x.size(-1) : 0,
                    " features (shape ", x.shape(), ") but the weight expects ", weight.size(1), " (shape ",
                    weight.shape(), ")");
  Tensor y = matmul(x, weight.t());
  if (!bias.defined()) return y;
  ICCRT_CHECK_SHAPE(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear: bias must have shape [",
                    weight.size(0), "], got ", bias.shape());
  // Under autocast the bias joins the product in its dtype (recorded: its gradient still arrives in float32).
  return add(y, autocast_lower(bias));
}

Tensor embedding(const Tensor& indices, const Tensor& weight, int64_t padding_idx) {
  Tensor out = raw([&] { return ops::embedding(weight, indices); });
  if (!autograd::any_requires_grad({&weight})) return out;
  SavedTensor si(indices);
  const int64_t num = weight.size(0);
  return record("EmbeddingBackward", {weight}, out, [=](const Tensor& g) {
    return TensorList{ops::embedding_backward(g, si.get(), num, padding_idx)};
  });
}

Tensor cross_entropy(const Tensor& logits_in, const Tensor& target, int64_t ignore_index, double label_smoothing,
                     const std::string& reduction) {
  const Tensor logits = autocast_float32(logits_in);
  ops::CrossEntropyResult r =
      raw([&] { return ops::cross_entropy(logits, target, ignore_index, label_smoothing, reduction); });
  if (!autograd::any_requires_grad({&logits})) return r.loss;
  SavedTensor sl(logits), st(target), slse(r.lse);
  return record("CrossEntropyBackward", {logits}, r.loss, [=](const Tensor& g) {
    return TensorList{
        ops::cross_entropy_backward(g, sl.get(), st.get(), slse.get(), ignore_index, label_smoothing, reduction)};
  });
}

Tensor scaled_dot_product_attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, bool causal,
                                    double scale) {
  const Tensor q = autocast_lower(q_in), k = autocast_lower(k_in), v = autocast_lower(v_in);
  ops::AttentionResult r = raw([&] { return ops::scaled_dot_product_attention(q, k, v, causal, scale); });
  if (!autograd::any_requires_grad({&q, &k, &v})) return r.out;
  SavedTensor sq(q), sk(k), sv(v), so(r.out), slse(r.lse);
  return record("ScaledDotProductAttentionBackward", {q, k, v}, TensorList{r.out}, [=](const TensorList& g) {
    ops::AttentionGrads gr = ops::scaled_dot_product_attention_backward(g[0], sq.get(), sk.get(), sv.get(), so.get(),
                                                                        slse.get(), causal, scale);
    return TensorList{gr.grad_q, gr.grad_k, gr.grad_v};
  })[0];
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  ICCRT_CHECK_VALUE(p >= 0.0 && p <= 1.0, "dropout probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0.0) return x;
  const std::pair<uint64_t, uint64_t> draw = reserve_random(gen, static_cast<uint64_t>(x.numel()));
  const uint64_t seed = draw.first, offset = draw.second;
  Tensor out = raw([&] { return ops::dropout(x, p, seed, offset); });
  return record("DropoutBackward", {x}, out,
                [=](const Tensor& g) { return TensorList{ops::dropout_backward(g, p, seed, offset)}; });
}

Tensor conv2d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in, const ops::Conv2dParams& p) {
  const Tensor x = autocast_lower(x_in), weight = autocast_lower(weight_in);
  const Tensor bias = bias_in.defined() ? autocast_lower(bias_in) : bias_in;
  Tensor out = raw([&] { return ops::conv2d(x, weight, bias, p); });
  if (!autograd::any_requires_grad({&x, &weight, &bias})) return out;
  SavedTensor sx(x), sw(weight);
  const bool nx = x.requires_grad(), nw = weight.requires_grad(), nb = bias.defined() && bias.requires_grad();
  return record("Conv2dBackward", {x, weight, bias}, TensorList{out}, [=](const TensorList& g) {
    ops::ConvGrads gr = ops::conv2d_backward(g[0], sx.get(), sw.get(), p, {nx, nw, nb});
    return TensorList{gr.grad_input, gr.grad_weight, gr.grad_bias};
  })[0];
}

Tensor max_pool2d(const Tensor& x, const ops::Pool2dParams& p) {
  ops::PoolResult r = raw([&] { return ops::max_pool2d(x, p); });
  if (!autograd::any_requires_grad({&x})) return r.out;
  SavedTensor sx(x), si(r.indices);
  return record("MaxPool2dBackward", {x}, r.out, [=](const Tensor& g) {
    return TensorList{ops::max_pool2d_backward(g, sx.get(), si.get(), p)};
  });
}

}  // namespace iccrt
