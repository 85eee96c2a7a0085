// conv2d and max_pool2d, NCHW: argument checks, output geometry, and dispatch. On CPU a convolution is im2col
// (kernels/cpu/conv.cpp) followed by one GEMM per group, image by image (the GEMM threads inside); on CUDA it is
// cuDNN (kernels/cuda/conv.cu). A 3-d input [C, H, W] is treated as a batch of one, as in PyTorch.
#include <cmath>

#include "iccrt/ops/nn.hpp"
#include "iccrt/ops/reduce.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cuda/nn_kernels.hpp"
#include "src/ops/nn_common.hpp"
#include "src/ops/op_common.hpp"

namespace iccrt::ops {
namespace {

// x as [N, C, H, W]: a 3-d input gains a batch dim of 1 (`batched` says whether to drop it again).
Tensor as_batched(const char* op, const Tensor& x, bool& batched) {
  ICCRT_CHECK_SHAPE(x.dim() == 3 || x.dim() == 4, op,
                    ": expected a 3-d [C, H, W] or 4-d [N, C, H, W] input but got shape ", x.shape());
  batched = x.dim() == 4;
  return batched ? x : x.unsqueeze(0);
}

// Output length of a convolution along one dim (ShapeError when the dilated kernel is larger than the padded input).
int64_t conv_out(const char* op, const char* dim, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  const int64_t span = d * (k - 1) + 1;
  ICCRT_CHECK_SHAPE(in + 2 * p >= span, op, ": input ", dim, " ", in, " with padding ", p,
                    " is smaller than the dilated kernel (", span, ")");
  return (in + 2 * p - span) / s + 1;
}

kernels::ConvArgs conv_geometry(const char* op, const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  detail::check_floating(op, "input", x);
  detail::check_dtype(op, "weight", w, x.dtype());
  ICCRT_CHECK_SHAPE(w.dim() == 4, op, ": expected a 4-d weight [O, C / groups, kh, kw] but got shape ", w.shape());
  for (int i = 0; i < 2; ++i) {
    ICCRT_CHECK_VALUE(p.stride[i] >= 1 && p.dilation[i] >= 1 && p.padding[i] >= 0, op,
                      ": expected stride >= 1, dilation >= 1 and padding >= 0 but got stride (", p.stride[0], ", ",
                      p.stride[1], "), dilation (", p.dilation[0], ", ", p.dilation[1], "), padding (", p.padding[0],
                      ", ", p.padding[1], ")");
  }
  ICCRT_CHECK_VALUE(p.groups >= 1, op, ": expected groups >= 1 but got ", p.groups);
  kernels::ConvArgs g;
  g.n = x.size(0);
  g.c = x.size(1);
  g.h = x.size(2);
  g.w = x.size(3);
  g.o = w.size(0);
  g.kh = w.size(2);
  g.kw = w.size(3);
  g.groups = p.groups;
  ICCRT_CHECK_SHAPE(g.c % g.groups == 0 && g.o % g.groups == 0, op, ": in channels ", g.c, " and out channels ", g.o,
                    " must both be divisible by groups ", g.groups);
  ICCRT_CHECK_SHAPE(w.size(1) * g.groups == g.c, op, ": expected weight of shape [", g.o, ", ", g.c / g.groups,
                    ", kh, kw] for ", g.c, " input channels in ", g.groups, " groups but got ", w.shape());
  ICCRT_CHECK_SHAPE(g.kh >= 1 && g.kw >= 1, op, ": expected a kernel of at least 1 x 1 but got weight shape ",
                    w.shape());
  g.stride_h = p.stride[0];
  g.stride_w = p.stride[1];
  g.pad_h = p.padding[0];
  g.pad_w = p.padding[1];
  g.dil_h = p.dilation[0];
  g.dil_w = p.dilation[1];
  g.oh = conv_out(op, "height", g.h, g.kh, g.stride_h, g.pad_h, g.dil_h);
  g.ow = conv_out(op, "width", g.w, g.kw, g.stride_w, g.pad_w, g.dil_w);
  g.dtype = x.dtype();
  return g;
}

// A 1x1 kernel at stride 1 without padding reads the input as it is: no im2col needed.
bool identity_unfold(const kernels::ConvArgs& g) {
  return g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// Per-group GEMM over one image: C_g = alpha op(A_g) op(B_g) + beta C_g for g in [0, groups).
void group_gemm(const kernels::ConvArgs& g, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void* a,
                int64_t lda, int64_t sa, const void* b, int64_t ldb, int64_t sb, void* c, int64_t ldc, int64_t sc,
                double beta, DType dtype) {
  kernels::GemmArgs ga;
  ga.trans_a = ta;
  ga.trans_b = tb;
  ga.m = m;
  ga.n = n;
  ga.k = k;
  ga.batch = g.groups;
  ga.a = a;
  ga.b = b;
  ga.c = c;
  ga.lda = lda;
  ga.ldb = ldb;
  ga.ldc = ldc;
  ga.stride_a = sa;
  ga.stride_b = sb;
  ga.stride_c = sc;
  ga.dtype = dtype;
  ga.beta = beta;
  kernels::cpu::gemm(ga);
}

char* byte_ptr(const Tensor& t, int64_t elems) { return static_cast<char*>(t.data_ptr()) + elems * t.itemsize(); }

void conv_forward_cpu(const kernels::ConvArgs& g, const Tensor& x, const Tensor& w, bool has_bias, Tensor& y) {
  const int64_t og = g.o / g.groups, cg = g.c / g.groups, K = cg * g.kh * g.kw, P = g.oh * g.ow;
  const bool direct = identity_unfold(g);
  const Tensor cols = direct ? Tensor() : empty({g.c * g.kh * g.kw, P}, TensorOptions(g.dtype));
  for (int64_t n = 0; n < g.n; ++n) {
    const void* xn = byte_ptr(x, n * g.c * g.h * g.w);
    if (!direct) kernels::cpu::im2col(g, xn, cols.data_ptr());
    const void* b = direct ? xn : cols.data_ptr();
    // y_n[group] = W[group] (og x K) @ cols[group] (K x P), on top of the bias already in y.
    group_gemm(g, false, false, og, P, K, w.data_ptr(), K, og * K, b, P, K * P, byte_ptr(y, n * g.o * P), P, og * P,
               has_bias ? 1.0 : 0.0, g.dtype);
  }
}

// Backward on CPU in the stat dtype (all operands already converted): grads accumulate over images in it.
void conv_backward_cpu(const kernels::ConvArgs& g, const Tensor& gy, const Tensor& x, const Tensor& w, Tensor* gx,
                       Tensor* gw) {
  const int64_t og = g.o / g.groups, cg = g.c / g.groups, K = cg * g.kh * g.kw, P = g.oh * g.ow;
  const bool direct = identity_unfold(g);
  const Tensor cols = direct ? Tensor() : empty({g.c * g.kh * g.kw, P}, TensorOptions(g.dtype));
  for (int64_t n = 0; n < g.n; ++n) {
    const void* gyn = byte_ptr(gy, n * g.o * P);
    if (gx) {
      // cols[group] (K x P) = W[group]^T (K x og) @ gy_n[group] (og x P), folded back onto the input.
      void* gxn = byte_ptr(*gx, n * g.c * g.h * g.w);
      void* dst = direct ? gxn : cols.data_ptr();
      group_gemm(g, true, false, K, P, og, w.data_ptr(), K, og * K, gyn, P, og * P, dst, P, K * P, 0.0, g.dtype);
      if (!direct) kernels::cpu::col2im(g, cols.data_ptr(), gxn);
    }
    if (gw) {
      // gW[group] (og x K) += gy_n[group] (og x P) @ cols[group]^T (P x K).
      const void* xn = byte_ptr(x, n * g.c * g.h * g.w);
      if (!direct) kernels::cpu::im2col(g, xn, cols.data_ptr());
      const void* b = direct ? xn : cols.data_ptr();
      group_gemm(g, false, true, og, K, P, gyn, P, og * P, b, P, K * P, gw->data_ptr(), K, og * K, n == 0 ? 0.0 : 1.0,
                 g.dtype);
    }
  }
}

}  // namespace

Tensor conv2d(const Tensor& x_in, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  constexpr const char* op = "conv2d";
  detail::check_defined(op, "input", x_in);
  bool batched = true;
  const Tensor x4 = as_batched(op, x_in, batched);
  const kernels::ConvArgs g = conv_geometry(op, x4, weight, p);
  const bool has_bias = bias.defined();
  if (has_bias) {
    detail::check_dtype(op, "bias", bias, x4.dtype());
    detail::check_shape(op, "bias", bias, {g.o});
  }
  const Device dev =
      has_bias ? detail::common_device(op, {&x4, &weight, &bias}) : detail::common_device(op, {&x4, &weight});
  const Tensor x = x4.contiguous(), w = weight.contiguous();
  const Tensor b = has_bias ? bias.contiguous() : Tensor();
  Tensor y = empty({g.n, g.o, g.oh, g.ow}, TensorOptions(x.dtype(), dev));
  if (y.numel() > 0) {
    detail::run_on(
        dev,
        [&] {
          if (has_bias) y.copy_(b.view({1, g.o, 1, 1}));  // the GEMMs then add onto it (beta = 1)
          conv_forward_cpu(g, x, w, has_bias, y);
        },
        [&](void* stream) {
          kernels::cuda::conv2d_forward(g, x.data_ptr(), w.data_ptr(), has_bias ? b.data_ptr() : nullptr, y.data_ptr(),
                                        stream);
        });
  }
  return batched ? y : y.squeeze(0);
}

ConvGrads conv2d_backward(const Tensor& grad_out, const Tensor& x_in, const Tensor& weight, const Conv2dParams& p,
                          std::array<bool, 3> need) {
  constexpr const char* op = "conv2d_backward";
  detail::check_defined(op, "input", x_in);
  bool batched = true;
  const Tensor x4 = as_batched(op, x_in, batched);
  const kernels::ConvArgs g = conv_geometry(op, x4, weight, p);
  detail::check_dtype(op, "grad_out", grad_out, x4.dtype());
  const Device dev = detail::common_device(op, {&grad_out, &x4, &weight});
  const Tensor gy4 = batched ? grad_out : grad_out.unsqueeze(0);
  detail::check_shape(op, "grad_out", gy4, {g.n, g.o, g.oh, g.ow});
  const DType dtype = x4.dtype();
  ConvGrads r;
  if (dev.is_cpu()) {
    // Computed in the stat dtype, so that float16 / bfloat16 gradients summed over images round once.
    const DType acc = detail::stat_dtype(dtype);
    kernels::ConvArgs ga = g;
    ga.dtype = acc;
    const Tensor gy = gy4.to(acc).contiguous(), x = x4.to(acc).contiguous(), w = weight.to(acc).contiguous();
    Tensor gx = need[0] ? zeros(x.shape(), TensorOptions(acc)) : Tensor();
    Tensor gw = need[1] ? zeros(w.shape(), TensorOptions(acc)) : Tensor();
    if (gy.numel() > 0) conv_backward_cpu(ga, gy, x, w, need[0] ? &gx : nullptr, need[1] ? &gw : nullptr);
    if (need[0]) r.grad_input = gx.to(dtype);
    if (need[1]) r.grad_weight = gw.to(dtype);
    if (need[2]) r.grad_bias = ops::sum(gy, {0, 2, 3}).to(dtype);
  } else {
    const Tensor gy = gy4.contiguous(), x = x4.contiguous(), w = weight.contiguous();
    const TensorOptions opts(dtype, dev);
    // The kernel writes every gradient it is given (cuDNN with beta = 0).
    if (need[0]) r.grad_input = empty(x.shape(), opts);
    if (need[1]) r.grad_weight = empty(w.shape(), opts);
    if (need[2]) r.grad_bias = empty({g.o}, opts);
    detail::run_on(
        dev, [] {},  // CPU tensors took the branch above
        [&](void* stream) {
          kernels::cuda::conv2d_backward(
              g, gy.data_ptr(), x.data_ptr(), w.data_ptr(), need[0] ? r.grad_input.data_ptr() : nullptr,
              need[1] ? r.grad_weight.data_ptr() : nullptr, need[2] ? r.grad_bias.data_ptr() : nullptr, stream);
        });
  }
  if (need[0] && !batched) r.grad_input = r.grad_input.squeeze(0);
  return r;
}

// ---- max_pool2d ----

namespace {

// Output length of a pooling window sweep along one dim, with PyTorch's rules (see the header).
int64_t pool_out(const char* op, const char* dim, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d,
                 bool ceil_mode) {
  const int64_t span = d * (k - 1) + 1;
  const int64_t num = in + 2 * p - span + (ceil_mode ? s - 1 : 0);
  // Floor division (num may be negative when the window does not fit).
  int64_t out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
  // In ceil mode the last window must start inside the input or the left padding.
  if (ceil_mode && out > 0 && (out - 1) * s >= in + p) --out;
  ICCRT_CHECK_SHAPE(out >= 1, op, ": output ", dim, " would be ", out, " (input ", in, ", kernel ", k, ", stride ", s,
                    ", padding ", p, ", dilation ", d, "): too small");
  return out;
}

kernels::PoolArgs pool_geometry(const char* op, const Tensor& x4, const Pool2dParams& p) {
  for (int i = 0; i < 2; ++i) {
    ICCRT_CHECK_VALUE(p.kernel[i] >= 1 && p.stride[i] >= 1 && p.dilation[i] >= 1, op,
                      ": expected kernel, stride and dilation >= 1 but got kernel (", p.kernel[0], ", ", p.kernel[1],
                      "), stride (", p.stride[0], ", ", p.stride[1], "), dilation (", p.dilation[0], ", ",
                      p.dilation[1], ")");
    ICCRT_CHECK_VALUE(p.padding[i] >= 0 && p.padding[i] <= p.kernel[i] / 2, op,
                      ": padding must be between 0 and half the kernel size, but got padding (", p.padding[0], ", ",
                      p.padding[1], ") for kernel (", p.kernel[0], ", ", p.kernel[1], ")");
  }
  kernels::PoolArgs a;
  a.planes = x4.size(0) * x4.size(1);
  a.h = x4.size(2);
  a.w = x4.size(3);
  a.kh = p.kernel[0];
  a.kw = p.kernel[1];
  a.stride_h = p.stride[0];
  a.stride_w = p.stride[1];
  a.pad_h = p.padding[0];
  a.pad_w = p.padding[1];
  a.dil_h = p.dilation[0];
  a.dil_w = p.dilation[1];
  a.oh = pool_out(op, "height", a.h, a.kh, a.stride_h, a.pad_h, a.dil_h, p.ceil_mode);
  a.ow = pool_out(op, "width", a.w, a.kw, a.stride_w, a.pad_w, a.dil_w, p.ceil_mode);
  a.dtype = x4.dtype();
  return a;
}

}  // namespace

PoolResult max_pool2d(const Tensor& x_in, const Pool2dParams& p) {
  constexpr const char* op = "max_pool2d";
  detail::check_floating(op, "input", x_in);
  bool batched = true;
  const Tensor x = as_batched(op, x_in, batched).contiguous();
  const kernels::PoolArgs a = pool_geometry(op, x, p);
  const Device dev = x.device();
  const Shape out_shape{x.size(0), x.size(1), a.oh, a.ow};
  PoolResult r{empty(out_shape, TensorOptions(x.dtype(), dev)), empty(out_shape, TensorOptions(DType::Int64, dev))};
  if (r.out.numel() > 0) {
    int64_t* idx = static_cast<int64_t*>(r.indices.data_ptr());
    detail::run_on(
        dev, [&] { kernels::cpu::max_pool2d_forward(a, x.data_ptr(), r.out.data_ptr(), idx); },
        [&](void* stream) { kernels::cuda::max_pool2d_forward(a, x.data_ptr(), r.out.data_ptr(), idx, stream); });
  }
  if (!batched) r = {r.out.squeeze(0), r.indices.squeeze(0)};
  return r;
}

Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& x_in, const Tensor& indices, const Pool2dParams& p) {
  constexpr const char* op = "max_pool2d_backward";
  detail::check_floating(op, "input", x_in);
  detail::check_dtype(op, "grad_out", grad_out, x_in.dtype());
  detail::check_dtype(op, "indices", indices, DType::Int64);
  const Device dev = detail::common_device(op, {&grad_out, &x_in, &indices});
  bool batched = true;
  const Tensor x = as_batched(op, x_in, batched);
  const kernels::PoolArgs a = pool_geometry(op, x, p);
  const Shape out_shape{x.size(0), x.size(1), a.oh, a.ow};
  const Tensor go = (batched ? grad_out : grad_out.unsqueeze(0)).contiguous();
  const Tensor idx = (batched ? indices : indices.unsqueeze(0)).contiguous();
  detail::check_shape(op, "grad_out", go, out_shape);
  detail::check_shape(op, "indices", idx, out_shape);
  const DType acc = detail::stat_dtype(x.dtype());
  Tensor gx = zeros(x.shape(), TensorOptions(acc, dev));
  if (go.numel() > 0) {
    const int64_t* ip = static_cast<const int64_t*>(idx.data_ptr());
    detail::run_on(
        dev,
        [&] {
          // Indices come from the caller: one outside its plane would write out of bounds. -1 marks a window
          // with no input element (Note [Max pool ties and NaN] in kernels/cpu/pool.cpp).
          const int64_t n = idx.numel(), limit = a.h * a.w;
          for (int64_t i = 0; i < n; ++i)
            ICCRT_CHECK_INDEX(ip[i] >= -1 && ip[i] < limit, op, ": index ", ip[i], " at position ", i,
                              " is outside an input plane of ", a.h, " x ", a.w);
          kernels::cpu::max_pool2d_backward(a, go.data_ptr(), ip, gx.data_ptr());
        },
        [&](void* stream) { kernels::cuda::max_pool2d_backward(a, go.data_ptr(), ip, gx.data_ptr(), stream); });
  }
  gx = gx.to(x.dtype());
  return batched ? gx : gx.squeeze(0);
}

}  // namespace iccrt::ops
