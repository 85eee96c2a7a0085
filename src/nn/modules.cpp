// The standard layers (include/iccrt/nn/modules.hpp): linear, embedding, normalisation, dropout, activations and
// the containers. Convolution, pooling and attention are in modules_conv_attention.cpp.
#include "iccrt/nn/modules.hpp"

#include <cmath>
#include <sstream>

#include "iccrt/autograd/grad_mode.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/nn/init.hpp"

namespace iccrt::nn {
namespace {

Tensor make_param(const Shape& shape, TensorOptions opts) {
  ICCRT_CHECK_DTYPE(is_floating(opts.dtype), "nn: parameters need a floating dtype, got ", dtype_name(opts.dtype));
  return empty(shape, opts);
}

void check_positive(int64_t v, const char* module, const char* what) {
  ICCRT_CHECK_VALUE(v > 0, module, ": ", what, " must be positive, got ", v);
}

std::string shape_repr(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

}  // namespace

// ---- Linear ----------------------------------------------------------------------------------------------------

Linear::Linear(int64_t in_features_, int64_t out_features_, bool bias_, Generator* gen, TensorOptions opts)
    : Module("Linear"),
      in_features(in_features_),
      out_features(out_features_),
      weight(register_parameter("weight", make_param({out_features_, in_features_}, opts))),
      bias(register_parameter("bias", bias_ ? make_param({out_features_}, opts) : Tensor())) {
  check_positive(in_features, "Linear", "in_features");
  check_positive(out_features, "Linear", "out_features");
  reset_parameters(gen);
}

void Linear::reset_parameters(Generator* gen) {
  // kaiming_uniform_(a = sqrt(5)) is uniform on +-1 / sqrt(fan_in); the bias uses the same bound.
  init::kaiming_uniform_(weight, std::sqrt(5.0), "fan_in", "leaky_relu", gen);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

std::string Linear::extra_repr() const {
  return detail::str("in_features=", in_features, ", out_features=", out_features, ", bias=", bias.defined());
}

// ---- Embedding ---------------------------------------------------------------------------------------------------

Embedding::Embedding(int64_t num_embeddings_, int64_t embedding_dim_, int64_t padding_idx_, Generator* gen,
                     TensorOptions opts)
    : Module("Embedding"),
      num_embeddings(num_embeddings_),
      embedding_dim(embedding_dim_),
      padding_idx(padding_idx_ < 0 ? -1 : padding_idx_),
      weight(register_parameter("weight", make_param({num_embeddings_, embedding_dim_}, opts))) {
  check_positive(num_embeddings, "Embedding", "num_embeddings");
  check_positive(embedding_dim, "Embedding", "embedding_dim");
  ICCRT_CHECK_INDEX(padding_idx < num_embeddings, "Embedding: padding_idx ", padding_idx, " is out of range for ",
                    num_embeddings, " embeddings");
  reset_parameters(gen);
}

void Embedding::reset_parameters(Generator* gen) {
  init::normal_(weight, 0.0, 1.0, gen);
  if (padding_idx >= 0) init::zeros_(weight.select(0, padding_idx));
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(indices, weight, padding_idx); }

std::string Embedding::extra_repr() const {
  std::string s = detail::str(num_embeddings, ", ", embedding_dim);
  if (padding_idx >= 0) s += detail::str(", padding_idx=", padding_idx);
  return s;
}

// ---- LayerNorm / RMSNorm -------------------------------------------------------------------------------------------

LayerNorm::LayerNorm(Shape normalized_shape_, double eps_, bool elementwise_affine, bool bias_, TensorOptions opts)
    : Module("LayerNorm"),
      normalized_shape(std::move(normalized_shape_)),
      eps(eps_),
      weight(register_parameter("weight", elementwise_affine ? make_param(normalized_shape, opts) : Tensor())),
      bias(register_parameter("bias", elementwise_affine && bias_ ? make_param(normalized_shape, opts) : Tensor())) {
  ICCRT_CHECK_VALUE(!normalized_shape.empty(), "LayerNorm: normalized_shape must have at least one dimension");
  for (int64_t d : normalized_shape) check_positive(d, "LayerNorm", "each normalized_shape dimension");
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, normalized_shape, weight, bias, eps); }

std::string LayerNorm::extra_repr() const {
  return detail::str(shape_repr(normalized_shape), ", eps=", eps, ", elementwise_affine=", weight.defined());
}

RMSNorm::RMSNorm(Shape normalized_shape_, double eps_, bool elementwise_affine, TensorOptions opts)
    : Module("RMSNorm"),
      normalized_shape(std::move(normalized_shape_)),
      eps(eps_),
      weight(register_parameter("weight", elementwise_affine ? make_param(normalized_shape, opts) : Tensor())) {
  ICCRT_CHECK_VALUE(!normalized_shape.empty(), "RMSNorm: normalized_shape must have at least one dimension");
  for (int64_t d : normalized_shape) check_positive(d, "RMSNorm", "each normalized_shape dimension");
  reset_parameters();
}

void RMSNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
}

Tensor RMSNorm::forward(const Tensor& x) { return rms_norm(x, normalized_shape, weight, eps); }

std::string RMSNorm::extra_repr() const {
  return detail::str(shape_repr(normalized_shape), ", eps=", eps, ", elementwise_affine=", weight.defined());
}

// ---- Dropout and activations ---------------------------------------------------------------------------------------

Dropout::Dropout(double p_, Generator* gen) : Module("Dropout"), p(p_), gen_(gen) {
  ICCRT_CHECK_VALUE(p >= 0.0 && p <= 1.0, "Dropout: probability has to be between 0 and 1, but got ", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), gen_); }

std::string Dropout::extra_repr() const { return detail::str("p=", p); }

GELU::GELU(std::string approximate_) : Module("GELU"), approximate(std::move(approximate_)) {
  ICCRT_CHECK_VALUE(approximate == "none" || approximate == "tanh",
                    "GELU: approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
}

Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate); }

std::string GELU::extra_repr() const { return approximate == "none" ? "" : "approximate=\"" + approximate + "\""; }

SiLU::SiLU() : Module("SiLU") {}

Tensor SiLU::forward(const Tensor& x) { return silu(x); }

// ---- containers ------------------------------------------------------------------------------------------------

Sequential::Sequential() : Module("Sequential") {}

void Sequential::add(std::shared_ptr<Module> module, std::function<Tensor(const Tensor&)> step) {
  steps_.emplace_back(std::move(module), std::move(step));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& step : steps_) y = step.second(y);
  return y;
}

std::shared_ptr<Module> Sequential::operator[](size_t i) const {
  ICCRT_CHECK_INDEX(i < steps_.size(), "Sequential: index ", i, " is out of range for ", steps_.size(), " modules");
  return steps_[i].first;
}

ModuleList::ModuleList() : Module("ModuleList") {}

ModuleList& ModuleList::push_back(std::shared_ptr<Module> module) {
  items_.push_back(register_module(std::to_string(items_.size()), std::move(module)));
  return *this;
}

std::shared_ptr<Module> ModuleList::operator[](size_t i) const {
  ICCRT_CHECK_INDEX(i < items_.size(), "ModuleList: index ", i, " is out of range for ", items_.size(), " modules");
  return items_[i];
}

void ModuleList::check_cast(bool ok, size_t i) const {
  ICCRT_CHECK_VALUE(ok, "ModuleList: item ", i, " is a ", items_[i]->type_name(), ", not the requested type");
}

}  // namespace iccrt::nn
