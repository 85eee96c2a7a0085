#pragma once
// Model ops, forward and backward, as raw (non-recording) functions. The differentiable versions that autograd
// records are the same names in namespace iccrt (include/iccrt/nn/functional.hpp); they call these.
//
// Common rules, for every function here:
//  - Floating dtypes only (float32, float64, float16, bfloat16); float16/bfloat16 compute in float32 and
//    return their input dtype. Index tensors are int64 (int32 also accepted where noted).
//  - Inputs may be non-contiguous views; outputs are new contiguous tensors.
//  - CPU and CUDA tensors; all operands on one device (DeviceError otherwise).
//  - Shape, dtype and index errors raise ShapeError / DTypeError / IndexError / ValueError naming the op.
//  - Saved statistics (mean, rstd, lse) are float32 for float32/float16/bfloat16 inputs and float64 for
//    float64 inputs.
#include <array>
#include <cstdint>
#include <string>

#include "iccrt/core/tensor.hpp"

namespace iccrt::ops {

// ---- softmax family (numerically stable: the row max is subtracted first) ----
ICCRT_API Tensor softmax(const Tensor& x, int64_t dim);
ICCRT_API Tensor log_softmax(const Tensor& x, int64_t dim);
// `out` is the forward result.
ICCRT_API Tensor softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim);
ICCRT_API Tensor log_softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim);

// ---- activations' backward (forward: iccrt::ops::gelu / silu in elementwise.hpp) ----
ICCRT_API Tensor gelu_backward(const Tensor& grad_out, const Tensor& x, const std::string& approximate = "none");
ICCRT_API Tensor silu_backward(const Tensor& grad_out, const Tensor& x);

// ---- normalisation over the trailing normalized_shape.size() dims ----
// weight / bias are optional (undefined Tensor); when given they have shape normalized_shape.
// mean / rstd have shape x.shape[:-len(normalized_shape)] (one value per normalised row).
struct NormResult {
  Tensor out, mean, rstd;  // rms_norm leaves mean undefined
};
struct NormGrads {
  Tensor grad_input, grad_weight, grad_bias;  // undefined where not asked for (or no weight / bias)
};
ICCRT_API NormResult layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                                const Tensor& bias, double eps = 1e-5);
// need = {grad_input, grad_weight, grad_bias}
ICCRT_API NormGrads layer_norm_backward(const Tensor& grad_out, const Tensor& x, const Shape& normalized_shape,
                                        const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                                        const Tensor& bias, std::array<bool, 3> need = {true, true, true});
// y = x * rsqrt(mean(x^2) + eps) * weight
ICCRT_API NormResult rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                              double eps = 1e-6);
ICCRT_API NormGrads rms_norm_backward(const Tensor& grad_out, const Tensor& x, const Shape& normalized_shape,
                                      const Tensor& rstd, const Tensor& weight,
                                      std::array<bool, 2> need = {true, true});

// ---- embedding ----
// weight [num_embeddings, dim]; indices int64 or int32 of any shape; out = indices.shape + [dim].
// An index outside [0, num_embeddings) raises IndexError (CPU: before any output is written; CUDA: checked on
// the device and reported at the next synchronisation).
ICCRT_API Tensor embedding(const Tensor& weight, const Tensor& indices);
// Scatter-add of grad_out rows into a [num_embeddings, dim] gradient (rows equal to padding_idx get none;
// padding_idx < 0 means no padding row). Deterministic on CPU.
ICCRT_API Tensor embedding_backward(const Tensor& grad_out, const Tensor& indices, int64_t num_embeddings,
                                    int64_t padding_idx = -1);

// ---- fused cross-entropy over logits [N, C] (or [C] with a 0-d target) ----
// target int64 [N] of class indices in [0, C), or ignore_index (those rows contribute no loss and no gradient).
// label_smoothing in [0, 1]: the target distribution is (1 - ls) * one_hot + ls / C.
// reduction: "mean" (over the non-ignored rows; all rows ignored gives NaN, as in PyTorch), "sum", "none" ([N]).
// lse [N] (log-sum-exp per row) is saved for the backward.
struct CrossEntropyResult {
  Tensor loss, lse;
};
ICCRT_API CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index = -100,
                                           double label_smoothing = 0.0, const std::string& reduction = "mean");
// grad_loss has the shape of the loss (0-d for mean/sum, [N] for none). Returns d loss / d logits.
ICCRT_API Tensor cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& target,
                                        const Tensor& lse, int64_t ignore_index = -100,
                                        double label_smoothing = 0.0, const std::string& reduction = "mean");

// ---- scaled dot-product attention ----
// q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv], leading dims equal (e.g. [B, H]). scale <= 0 means 1/sqrt(D).
// causal: query i attends to keys j <= i + (Tk - Tq) (bottom-right aligned, as PyTorch for Tq == Tk).
// Memory-efficient: never materialises the Tq x Tk score matrix for the whole batch (blocked online softmax).
// lse [..., Tq] is the log-sum-exp of each query's scaled scores, saved for the backward.
struct AttentionResult {
  Tensor out, lse;
};
struct AttentionGrads {
  Tensor grad_q, grad_k, grad_v;
};
ICCRT_API AttentionResult scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                                       bool causal = false, double scale = 0.0);
ICCRT_API AttentionGrads scaled_dot_product_attention_backward(const Tensor& grad_out, const Tensor& q,
                                                               const Tensor& k, const Tensor& v, const Tensor& out,
                                                               const Tensor& lse, bool causal = false,
                                                               double scale = 0.0);

// ---- dropout (counter-based: the mask is a function of (seed, offset, element index)) ----
// Keeps each element with probability 1 - p and scales kept ones by 1 / (1 - p). p in [0, 1]; p == 1 gives zeros.
// The backward recomputes the same mask from (seed, offset), so no mask is stored.
ICCRT_API Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset);
ICCRT_API Tensor dropout_backward(const Tensor& grad_out, double p, uint64_t seed, uint64_t offset);

// ---- convolution and pooling, NCHW ----
// x [N, C, H, W]; weight [O, C / groups, kh, kw]; bias [O] or undefined. CPU: im2col + GEMM; CUDA: cuDNN.
struct Conv2dParams {
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};
struct ConvGrads {
  Tensor grad_input, grad_weight, grad_bias;
};
ICCRT_API Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p = {});
// need = {grad_input, grad_weight, grad_bias}
ICCRT_API ConvGrads conv2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight,
                                    const Conv2dParams& p, std::array<bool, 3> need = {true, true, true});
struct Pool2dParams {
  std::array<int64_t, 2> kernel{2, 2}, stride{2, 2}, padding{0, 0}, dilation{1, 1};
  bool ceil_mode = false;
};
struct PoolResult {
  Tensor out, indices;  // indices: int64, flat h * W + w of the max within each input plane
};
ICCRT_API PoolResult max_pool2d(const Tensor& x, const Pool2dParams& p);
ICCRT_API Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& indices,
                                     const Pool2dParams& p);

// ---- fused AdamW step, in place (decoupled weight decay, bias-corrected; `step` counts from 1) ----
// param, grad, exp_avg, exp_avg_sq: same shape, dtype and device; param / exp_avg / exp_avg_sq contiguous
// (they are updated in place). float16 / bfloat16 compute in float32.
struct AdamWParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
  int64_t step = 1;
  bool maximize = false;
};
ICCRT_API void adamw_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                      const AdamWParams& p);

}  // namespace iccrt::ops
