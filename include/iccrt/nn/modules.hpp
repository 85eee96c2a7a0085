#pragma once
// The standard layers (torch.nn's names, arguments and default initialisation). Each is a Module whose
// parameters are public references to its slots (Note [Parameter slots] in module.hpp) and whose forward() calls
// the differentiable op of include/iccrt/nn/functional.hpp. Hold them by std::shared_ptr (std::make_shared or
// Module::register_module). Initialisation draws from `gen` (the default generator when null), so a seeded
// Generator reproduces a model; `opts` picks the parameters' dtype and device.
#include <array>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "iccrt/core/generator.hpp"
#include "iccrt/nn/functional.hpp"
#include "iccrt/nn/module.hpp"

namespace iccrt::nn {

// y = x @ weight^T + bias. weight [out_features, in_features], bias [out_features] (undefined when !bias).
// Init: weight and bias uniform on +-1 / sqrt(in_features).
class ICCRT_API Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr,
         TensorOptions opts = {});
  Tensor forward(const Tensor& x);  // x [..., in_features] -> [..., out_features]
  void reset_parameters(Generator* gen = nullptr);

  const int64_t in_features, out_features;
  Tensor& weight;
  Tensor& bias;

 protected:
  std::string extra_repr() const override;
};

// A lookup table: indices (int64 / int32, any shape) -> rows of weight [num_embeddings, embedding_dim].
// Init: normal(0, 1), the padding_idx row (when >= 0) zero; that row gets no gradient.
class ICCRT_API Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx = -1, Generator* gen = nullptr,
            TensorOptions opts = {});
  Tensor forward(const Tensor& indices);
  void reset_parameters(Generator* gen = nullptr);

  const int64_t num_embeddings, embedding_dim, padding_idx;
  Tensor& weight;

 protected:
  std::string extra_repr() const override;
};

// Normalises over the trailing normalized_shape dims; weight (ones) and bias (zeros) of that shape when
// elementwise_affine (bias only when also `bias`).
class ICCRT_API LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true, bool bias = true,
                     TensorOptions opts = {});
  Tensor forward(const Tensor& x);
  void reset_parameters();

  const Shape normalized_shape;
  const double eps;
  Tensor& weight;
  Tensor& bias;

 protected:
  std::string extra_repr() const override;
};

// y = x * rsqrt(mean(x^2) + eps) * weight over the trailing normalized_shape dims; weight ones.
class ICCRT_API RMSNorm : public Module {
 public:
  explicit RMSNorm(Shape normalized_shape, double eps = 1e-6, bool elementwise_affine = true, TensorOptions opts = {});
  Tensor forward(const Tensor& x);
  void reset_parameters();

  const Shape normalized_shape;
  const double eps;
  Tensor& weight;

 protected:
  std::string extra_repr() const override;
};

// Zeroes elements with probability p and scales the rest by 1 / (1 - p) in training mode; the identity in eval
// mode. Masks come from `gen` (default generator when null), which must outlive the module.
class ICCRT_API Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  Tensor forward(const Tensor& x);

  const double p;

 protected:
  std::string extra_repr() const override;

 private:
  Generator* gen_;
};

// approximate: "none" (erf) or "tanh".
class ICCRT_API GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& x);

  const std::string approximate;

 protected:
  std::string extra_repr() const override;
};

class ICCRT_API SiLU : public Module {
 public:
  SiLU();
  Tensor forward(const Tensor& x);
};

// NCHW convolution: weight [out_channels, in_channels / groups, kh, kw], bias [out_channels].
// Init: uniform on +-1 / sqrt(in_channels / groups * kh * kw) for both.
class ICCRT_API Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel_size,
         const ops::Conv2dParams& params = {}, bool bias = true, Generator* gen = nullptr, TensorOptions opts = {});
  Tensor forward(const Tensor& x);  // x [N, in_channels, H, W]
  void reset_parameters(Generator* gen = nullptr);

  const int64_t in_channels, out_channels;
  const std::array<int64_t, 2> kernel_size;
  const ops::Conv2dParams params;
  Tensor& weight;
  Tensor& bias;

 protected:
  std::string extra_repr() const override;
};

class ICCRT_API MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const ops::Pool2dParams& params);
  Tensor forward(const Tensor& x);

  const ops::Pool2dParams params;

 protected:
  std::string extra_repr() const override;
};

// Multi-head attention, batch first: inputs [B, T, embed_dim]. The query, key and value projections are one fused
// weight in_proj_weight [3 * embed_dim, embed_dim] (rows: q, then k, then v) with in_proj_bias [3 * embed_dim], so
// self-attention projects with a single matrix product; out_proj is a Linear(embed_dim, embed_dim).
// Attention itself is scaled_dot_product_attention (scale 1 / sqrt(head_dim); causal: query i sees keys <= i).
// Init as PyTorch: in_proj_weight xavier_uniform_, biases zero, out_proj.weight Linear's default.
class ICCRT_API MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, bool bias = true, Generator* gen = nullptr,
                     TensorOptions opts = {});
  // Self-attention: x [B, T, E] -> [B, T, E].
  Tensor forward(const Tensor& x, bool causal = false);
  // query [B, Tq, E], key / value [B, Tk, E] -> [B, Tq, E] (causal: bottom-right aligned when Tq != Tk).
  Tensor forward(const Tensor& query, const Tensor& key, const Tensor& value, bool causal = false);
  void reset_parameters(Generator* gen = nullptr);

  const int64_t embed_dim, num_heads, head_dim;
  Tensor& in_proj_weight;
  Tensor& in_proj_bias;
  std::shared_ptr<Linear> out_proj;

 protected:
  std::string extra_repr() const override;

 private:
  Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, bool causal);
};

// Runs its modules in order, each one's output the next one's input. Any module with a
// `Tensor forward(const Tensor&)` (default arguments allowed) can be appended; children are named "0", "1", ...
class ICCRT_API Sequential : public Module {
 public:
  Sequential();
  template <class M>
  Sequential& push_back(std::shared_ptr<M> module) {
    M* raw = module.get();
    add(register_module(std::to_string(size()), std::move(module)), [raw](const Tensor& x) { return raw->forward(x); });
    return *this;
  }
  Tensor forward(const Tensor& x);
  size_t size() const { return steps_.size(); }
  std::shared_ptr<Module> operator[](size_t i) const;  // IndexError when out of range

 private:
  void add(std::shared_ptr<Module> module, std::function<Tensor(const Tensor&)> step);
  std::vector<std::pair<std::shared_ptr<Module>, std::function<Tensor(const Tensor&)>>> steps_;
};

// A list of child modules named "0", "1", ... (registered, so their parameters belong to the owner); the owner
// decides how to call them.
class ICCRT_API ModuleList : public Module {
 public:
  ModuleList();
  ModuleList& push_back(std::shared_ptr<Module> module);
  size_t size() const { return items_.size(); }
  std::shared_ptr<Module> operator[](size_t i) const;  // IndexError when out of range
  // Item i as M (ValueError when it is another type).
  template <class M>
  std::shared_ptr<M> at(size_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    check_cast(m != nullptr, i);
    return m;
  }
  std::vector<std::shared_ptr<Module>>::const_iterator begin() const { return items_.begin(); }
  std::vector<std::shared_ptr<Module>>::const_iterator end() const { return items_.end(); }

 private:
  void check_cast(bool ok, size_t i) const;
  std::vector<std::shared_ptr<Module>> items_;
};

}  // namespace iccrt::nn
