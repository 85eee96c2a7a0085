#pragma once
// The differentiable model ops (torch.nn.functional's names, in namespace iccrt). Each validates like its raw
// op in include/iccrt/ops/nn.hpp, calls it, and records the backward that ops/nn.hpp provides. Under autocast
// (autocast.hpp) the matrix-product ops compute in the autocast dtype and the normalisations / softmax / losses
// in float32.
#include <array>
#include <optional>
#include <string>

#include "iccrt/autograd/functions.hpp"
#include "iccrt/core/generator.hpp"
#include "iccrt/core/tensor.hpp"
#include "iccrt/ops/nn.hpp"

namespace iccrt {

ICCRT_API Tensor softmax(const Tensor& x, int64_t dim);
ICCRT_API Tensor log_softmax(const Tensor& x, int64_t dim);
ICCRT_API Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                            const Tensor& bias = Tensor(), double eps = 1e-5);
ICCRT_API Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                          double eps = 1e-6);
// x @ weight^T + bias; weight [out, in], bias [out] or undefined.
ICCRT_API Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// indices (int64 / int32, any shape) into weight [num, dim]; rows at padding_idx (>= 0) get no gradient.
ICCRT_API Tensor embedding(const Tensor& indices, const Tensor& weight, int64_t padding_idx = -1);
ICCRT_API Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index = -100,
                               double label_smoothing = 0.0, const std::string& reduction = "mean");
// q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv]; scale <= 0: 1/sqrt(D).
ICCRT_API Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal = false,
                                              double scale = 0.0);
// Identity when !training or p == 0. The mask comes from `gen` (the default generator when null), so a seed
// reproduces it.
ICCRT_API Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);
ICCRT_API Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        const ops::Conv2dParams& p = {});
ICCRT_API Tensor max_pool2d(const Tensor& x, const ops::Pool2dParams& p);

namespace nn::functional {
using iccrt::conv2d;
using iccrt::cross_entropy;
using iccrt::dropout;
using iccrt::embedding;
using iccrt::gelu;
using iccrt::layer_norm;
using iccrt::linear;
using iccrt::log_softmax;
using iccrt::max_pool2d;
using iccrt::relu;
using iccrt::rms_norm;
using iccrt::scaled_dot_product_attention;
using iccrt::silu;
using iccrt::softmax;
}  // namespace nn::functional

}  // namespace iccrt
