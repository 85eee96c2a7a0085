// Convolution, pooling and multi-head attention layers (include/iccrt/nn/modules.hpp).
#include <cmath>

#include "iccrt/core/error.hpp"
#include "iccrt/nn/init.hpp"
#include "iccrt/nn/modules.hpp"

namespace iccrt::nn {
namespace {

Tensor make_param(const Shape& shape, TensorOptions opts) {
  ICCRT_CHECK_DTYPE(is_floating(opts.dtype), "nn: parameters need a floating dtype, got ", dtype_name(opts.dtype));
  return empty(shape, opts);
}

std::string pair_repr(const std::array<int64_t, 2>& v) { return detail::str("(", v[0], ", ", v[1], ")"); }

// Same handle, or another handle of the same view: self-attention called through the three-input form.
bool same_view(const Tensor& a, const Tensor& b) {
  return a.storage() == b.storage() && a.offset() == b.offset() && a.shape() == b.shape() &&
         a.strides() == b.strides() && a.dtype() == b.dtype() && a.autograd_meta() == b.autograd_meta();
}

}  // namespace

// ---- Conv2d ------------------------------------------------------------------------------------------------------

Conv2d::Conv2d(int64_t in_channels_, int64_t out_channels_, std::array<int64_t, 2> kernel_size_,
               const ops::Conv2dParams& params_, bool bias_, Generator* gen, TensorOptions opts)
    : Module("Conv2d"),
      in_channels(in_channels_),
      out_channels(out_channels_),
      kernel_size(kernel_size_),
      params(params_),
      weight(register_parameter("weight", Tensor())),
      bias(register_parameter("bias", Tensor())) {
  ICCRT_CHECK_VALUE(in_channels > 0 && out_channels > 0, "Conv2d: in_channels and out_channels must be positive, got ",
                    in_channels, " and ", out_channels);
  ICCRT_CHECK_VALUE(kernel_size[0] > 0 && kernel_size[1] > 0, "Conv2d: kernel_size must be positive, got ",
                    pair_repr(kernel_size));
  ICCRT_CHECK_VALUE(params.groups > 0 && in_channels % params.groups == 0 && out_channels % params.groups == 0,
                    "Conv2d: groups (", params.groups, ") must be positive and divide in_channels (", in_channels,
                    ") and out_channels (", out_channels, ")");
  // The slots exist from the start (so their references are valid); the tensors come after the checks.
  Tensor w = make_param({out_channels, in_channels / params.groups, kernel_size[0], kernel_size[1]}, opts);
  w.set_requires_grad(true);
  weight = w;
  if (bias_) {
    Tensor b = make_param({out_channels}, opts);
    b.set_requires_grad(true);
    bias = b;
  }
  reset_parameters(gen);
}

void Conv2d::reset_parameters(Generator* gen) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), "fan_in", "leaky_relu", gen);
  if (bias.defined()) {
    const double fan_in = static_cast<double>(init::calculate_fan_in_and_fan_out(weight).first);
    const double bound = 1.0 / std::sqrt(fan_in);
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Conv2d::forward(const Tensor& x) { return iccrt::conv2d(x, weight, bias, params); }

std::string Conv2d::extra_repr() const {
  std::string s = detail::str(in_channels, ", ", out_channels, ", kernel_size=", pair_repr(kernel_size),
                              ", stride=", pair_repr(params.stride));
  if (params.padding != std::array<int64_t, 2>{0, 0}) s += ", padding=" + pair_repr(params.padding);
  if (params.dilation != std::array<int64_t, 2>{1, 1}) s += ", dilation=" + pair_repr(params.dilation);
  if (params.groups != 1) s += detail::str(", groups=", params.groups);
  if (!bias.defined()) s += ", bias=false";
  return s;
}

// ---- MaxPool2d ---------------------------------------------------------------------------------------------------

MaxPool2d::MaxPool2d(const ops::Pool2dParams& params_) : Module("MaxPool2d"), params(params_) {}

Tensor MaxPool2d::forward(const Tensor& x) { return iccrt::max_pool2d(x, params); }

std::string MaxPool2d::extra_repr() const {
  return detail::str("kernel_size=", pair_repr(params.kernel), ", stride=", pair_repr(params.stride),
                     ", padding=", pair_repr(params.padding), ", dilation=", pair_repr(params.dilation),
                     ", ceil_mode=", params.ceil_mode);
}

// ---- MultiheadAttention ------------------------------------------------------------------------------------------

MultiheadAttention::MultiheadAttention(int64_t embed_dim_, int64_t num_heads_, bool bias, Generator* gen,
                                       TensorOptions opts)
    : Module("MultiheadAttention"),
      embed_dim(embed_dim_),
      num_heads(num_heads_),
      head_dim(num_heads_ > 0 ? embed_dim_ / num_heads_ : 0),
      in_proj_weight(register_parameter("in_proj_weight", Tensor())),
      in_proj_bias(register_parameter("in_proj_bias", Tensor())) {
  ICCRT_CHECK_VALUE(embed_dim > 0 && num_heads > 0 && embed_dim % num_heads == 0, "MultiheadAttention: embed_dim (",
                    embed_dim, ") must be a positive multiple of num_heads (", num_heads, ")");
  Tensor w = make_param({3 * embed_dim, embed_dim}, opts);
  w.set_requires_grad(true);
  in_proj_weight = w;
  if (bias) {
    Tensor b = make_param({3 * embed_dim}, opts);
    b.set_requires_grad(true);
    in_proj_bias = b;
  }
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, bias, gen, opts));
  reset_parameters(gen);
}

void MultiheadAttention::reset_parameters(Generator* gen) {
  init::xavier_uniform_(in_proj_weight, 1.0, gen);
  if (in_proj_bias.defined()) init::zeros_(in_proj_bias);
  out_proj->reset_parameters(gen);
  if (out_proj->bias.defined()) init::zeros_(out_proj->bias);
}

Tensor MultiheadAttention::attend(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
  // q [B, H, Tq, D], k / v [B, H, Tk, D] -> [B, Tq, E]
  const int64_t batch = q.size(0), tq = q.size(2);
  Tensor heads = iccrt::scaled_dot_product_attention(q, k, v, causal);
  return out_proj->forward(heads.transpose(1, 2).reshape({batch, tq, embed_dim}));
}

Tensor MultiheadAttention::forward(const Tensor& x, bool causal) {
  ICCRT_CHECK_SHAPE(x.defined() && x.dim() == 3 && x.size(2) == embed_dim,
                    "MultiheadAttention: expected input [batch, seq, ", embed_dim, "], got ",
                    x.defined() ? x.shape() : Shape{});
  const int64_t batch = x.size(0), t = x.size(1);
  // One product for q, k and v: [B, T, 3E] viewed as [B, T, 3, H, D]; each of q, k, v is a strided view.
  Tensor qkv = linear(x, in_proj_weight, in_proj_bias).view({batch, t, 3, num_heads, head_dim});
  Tensor q = qkv.select(2, 0).transpose(1, 2);
  Tensor k = qkv.select(2, 1).transpose(1, 2);
  Tensor v = qkv.select(2, 2).transpose(1, 2);
  return attend(q, k, v, causal);
}

Tensor MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value, bool causal) {
  if (same_view(query, key) && same_view(key, value)) return forward(query, causal);
  auto check = [&](const Tensor& t, const char* what) {
    ICCRT_CHECK_SHAPE(t.defined() && t.dim() == 3 && t.size(2) == embed_dim, "MultiheadAttention: expected ", what,
                      " [batch, seq, ", embed_dim, "], got ", t.defined() ? t.shape() : Shape{});
  };
  check(query, "query");
  check(key, "key");
  check(value, "value");
  ICCRT_CHECK_SHAPE(key.shape() == value.shape() && key.size(0) == query.size(0),
                    "MultiheadAttention: key and value must have the same shape and the query's batch size; got "
                    "query ",
                    query.shape(), ", key ", key.shape(), ", value ", value.shape());
  auto project = [&](const Tensor& t, int64_t i) {
    const Tensor w = in_proj_weight.narrow(0, i * embed_dim, embed_dim);
    const Tensor b = in_proj_bias.defined() ? in_proj_bias.narrow(0, i * embed_dim, embed_dim) : Tensor();
    return linear(t, w, b).view({t.size(0), t.size(1), num_heads, head_dim}).transpose(1, 2);
  };
  return attend(project(query, 0), project(key, 1), project(value, 2), causal);
}

std::string MultiheadAttention::extra_repr() const {
  return detail::str("embed_dim=", embed_dim, ", num_heads=", num_heads, ", bias=", in_proj_bias.defined());
}

}  // namespace iccrt::nn
