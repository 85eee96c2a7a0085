#pragma once
// CUDA model kernels: the same entry points as kernels/cpu/nn_kernels.hpp, queued on `stream`, one family per
// file (softmax.cu, norm.cu, embedding.cu, cross_entropy.cu, attention.cu, dropout.cu, conv.cu, pool.cu,
// adamw.cu). Arguments: kernels/common/nn_args.hpp; all pointers are device pointers of the current device.
#include "kernels/common/kernel_args.hpp"
#include "kernels/common/nn_args.hpp"

namespace iccrt::kernels::cuda {

using Stream = void*;

void softmax_forward(const SoftmaxArgs& a, Stream stream);
void softmax_backward(const SoftmaxArgs& a, Stream stream);
void activation_backward(UnaryOp op, const ElementwiseArgs& a, Stream stream);
void norm_forward(const NormArgs& a, Stream stream);
void norm_backward(const NormArgs& a, Stream stream);
void embedding_forward(const EmbeddingArgs& a, Stream stream);
void embedding_backward(const EmbeddingArgs& a, Stream stream);
void cross_entropy_forward(const CrossEntropyArgs& a, Stream stream);
void cross_entropy_backward(const CrossEntropyArgs& a, Stream stream);
// Flash-style: one pass over key blocks with an online softmax; the backward recomputes scores from lse.
void attention_forward(const AttentionArgs& a, Stream stream);
void attention_backward(const AttentionArgs& a, Stream stream);
void dropout_forward(const DropoutArgs& a, Stream stream);
void dropout_backward(const DropoutArgs& a, Stream stream);
// cuDNN convolution (NCHW, cross-correlation). bias may be null. Backward outputs may be null when not needed;
// grad_bias is [o] of dtype.
void conv2d_forward(const ConvArgs& g, const void* x, const void* weight, const void* bias, void* y, Stream stream);
void conv2d_backward(const ConvArgs& g, const void* grad_y, const void* x, const void* weight, void* grad_x,
                     void* grad_weight, void* grad_bias, Stream stream);
void max_pool2d_forward(const PoolArgs& a, const void* x, void* out, int64_t* indices, Stream stream);
void max_pool2d_backward(const PoolArgs& a, const void* grad_out, const int64_t* indices, void* grad_in,
                         Stream stream);
void adamw_step(const AdamWArgs& a, Stream stream);

}  // namespace iccrt::kernels::cuda
