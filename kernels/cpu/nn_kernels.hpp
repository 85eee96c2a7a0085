#pragma once
// CPU model kernels (one family per file: softmax.cpp, norm.cpp, embedding.cpp, cross_entropy.cpp,
// attention.cpp, dropout.cpp, conv.cpp, pool.cpp, adamw.cpp). Arguments: kernels/common/nn_args.hpp.
#include "kernels/common/kernel_args.hpp"
#include "kernels/common/nn_args.hpp"

namespace iccrt::kernels::cpu {

void softmax_forward(const SoftmaxArgs& a);
void softmax_backward(const SoftmaxArgs& a);
// out = grad * d act(x) / dx for op in {GeluErf, GeluTanh, Silu}; operands: out, grad, x (same dtype).
void activation_backward(UnaryOp op, const ElementwiseArgs& a);
void norm_forward(const NormArgs& a);
void norm_backward(const NormArgs& a);
void embedding_forward(const EmbeddingArgs& a);
void embedding_backward(const EmbeddingArgs& a);
void cross_entropy_forward(const CrossEntropyArgs& a);
void cross_entropy_backward(const CrossEntropyArgs& a);
void attention_forward(const AttentionArgs& a);
void attention_backward(const AttentionArgs& a);
void dropout_forward(const DropoutArgs& a);
void dropout_backward(const DropoutArgs& a);
// im2col: x [c, h, w] of one image -> cols [c * kh * kw, oh * ow]; col2im accumulates back (cols -> x, x zeroed
// by the caller). The GEMMs around them are done by the ops layer with kernels::cpu::gemm.
void im2col(const ConvArgs& g, const void* x, void* cols);
void col2im(const ConvArgs& g, const void* cols, void* x);
void max_pool2d_forward(const PoolArgs& a, const void* x, void* out, int64_t* indices);
// grad_in [planes, h, w] stat dtype, zeroed by the caller, accumulated into.
void max_pool2d_backward(const PoolArgs& a, const void* grad_out, const int64_t* indices, void* grad_in);
void adamw_step(const AdamWArgs& a);

}  // namespace iccrt::kernels::cpu
