// Differentiable reductions, matrix products and joins.
#include <algorithm>

#include "iccrt/autograd/autocast.hpp"
#include "iccrt/core/error.hpp"
#include "src/autograd/function_helpers.hpp"

namespace iccrt {

using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;
using autograd::detail::raw;

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int64_t lead = grad.dim() - static_cast<int64_t>(shape.size());
  ICCRT_ASSERT(lead >= 0, "sum_to: ", grad.shape(), " has fewer dims than ", shape);
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < grad.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && grad.size(i) != 1)) dims.push_back(i);
  Tensor r = dims.empty() ? grad : ops::sum(grad, dims, true);
  return r.reshape(shape);
}

namespace {

// The reduced dims of a reduction over `dims` (empty: all) of an ndim tensor, wrapped and sorted.
std::vector<int64_t> reduced_dims(const std::vector<int64_t>& dims, int64_t ndim) {
  std::vector<int64_t> r;
  if (dims.empty()) {
    for (int64_t i = 0; i < ndim; ++i) r.push_back(i);
  } else {
    for (int64_t d : dims) r.push_back(wrap_dim(d, std::max<int64_t>(ndim, 1)));
  }
  std::sort(r.begin(), r.end());
  return r;
}

// g (the gradient of a reduction result) broadcast back to the input's shape.
Tensor expand_back(const Tensor& g, const Shape& in_shape, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor r = g;
  if (!keepdim && !in_shape.empty())
    for (int64_t d : reduced_dims(dims, static_cast<int64_t>(in_shape.size()))) r = r.unsqueeze(d);
  return r.expand(in_shape);
}

int64_t reduced_count(const Shape& shape, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : reduced_dims(dims, static_cast<int64_t>(shape.size())))
    if (!shape.empty()) n *= shape[d];
  return n;
}

// The backward of max/min along a dim: the gradient goes to the element the indices name.
Tensor scatter_to_index(const Tensor& g, const Tensor& indices, const Shape& in_shape, int64_t dim, bool keepdim) {
  const int64_t d = wrap_dim(dim, std::max<int64_t>(static_cast<int64_t>(in_shape.size()), 1));
  if (in_shape.empty()) return g;
  Shape pos_shape(in_shape.size(), 1);
  pos_shape[d] = in_shape[d];
  Tensor positions = arange(0, in_shape[d], 1, TensorOptions(DType::Int64, g.device())).view(pos_shape);
  Tensor idx = keepdim ? indices : indices.unsqueeze(d);
  Tensor gk = keepdim ? g : g.unsqueeze(d);
  return ops::mul(ops::eq(positions, idx).to(g.dtype()), gk);
}

// Full reductions max() / min(): the gradient is shared evenly by the elements equal to the extreme.
Tensor extreme_backward(const Tensor& g, const Tensor& x, const Tensor& out) {
  Tensor mask = ops::eq(x, out).to(g.dtype());
  return ops::div(ops::mul(mask, g), ops::sum(mask));
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor out = raw([&] { return ops::sum(x, dims, keepdim); });
  if (!autograd::any_requires_grad({&x})) return out;
  const Shape in_shape = x.shape();
  return record("SumBackward", {x}, std::move(out), [=](const Tensor& g) {
    return TensorList{expand_back(g, in_shape, dims, keepdim)};
  });
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor out = raw([&] { return ops::mean(x, dims, keepdim); });
  if (!autograd::any_requires_grad({&x})) return out;
  const Shape in_shape = x.shape();
  const double n = static_cast<double>(reduced_count(in_shape, dims));
  return record("MeanBackward", {x}, std::move(out), [=](const Tensor& g) {
    return TensorList{expand_back(ops::div(g, n), in_shape, dims, keepdim)};
  });
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  Tensor out = raw([&] { return ops::var(x, dims, correction, keepdim); });
  if (!autograd::any_requires_grad({&x})) return out;
  SavedTensor sx(x);
  const Shape in_shape = x.shape();
  const double n = static_cast<double>(reduced_count(in_shape, dims));
  return record("VarBackward", {x}, std::move(out), [=](const Tensor& g) {
    const Tensor& xv = sx.get();
    Tensor centred = ops::sub(xv, ops::mean(xv, dims, true));
    Tensor scale = ops::div(expand_back(g, in_shape, dims, keepdim), std::max(n - static_cast<double>(correction), 0.0) / 2.0);
    return TensorList{ops::mul(centred, scale)};
  });
}

Tensor max(const Tensor& x) {
  Tensor out = raw([&] { return ops::max(x); });
  if (!autograd::any_requires_grad({&x})) return out;
  SavedTensor sx(x), so(out);
  return record("MaxBackward", {x}, std::move(out),
                [=](const Tensor& g) { return TensorList{extreme_backward(g, sx.get(), so.get())}; });
}
Tensor min(const Tensor& x) {
  Tensor out = raw([&] { return ops::min(x); });
  if (!autograd::any_requires_grad({&x})) return out;
  SavedTensor sx(x), so(out);
  return record("MinBackward", {x}, std::move(out),
                [=](const Tensor& g) { return TensorList{extreme_backward(g, sx.get(), so.get())}; });
}

namespace {
std::pair<Tensor, Tensor> extreme_dim(bool is_max, const Tensor& x, int64_t dim, bool keepdim) {
  auto [values, indices] = raw([&] { return is_max ? ops::max(x, dim, keepdim) : ops::min(x, dim, keepdim); });
  if (!autograd::any_requires_grad({&x})) return {values, indices};
  SavedTensor si(indices);
  const Shape in_shape = x.shape();
  values = record(is_max ? "MaxBackward" : "MinBackward", {x}, std::move(values), [=](const Tensor& g) {
    return TensorList{scatter_to_index(g, si.get(), in_shape, dim, keepdim)};
  });
  return {values, indices};
}
}  // namespace

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) { return extreme_dim(true, x, dim, keepdim); }
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_dim(false, x, dim, keepdim);
}
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return ops::argmax(x, dim, keepdim); }
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) { return ops::argmin(x, dim, keepdim); }
Tensor argmax(const Tensor& x) { return ops::argmax(x); }
Tensor argmin(const Tensor& x) { return ops::argmin(x); }

// ---- matrix products ----
namespace {

// Gradients of a (.., n, k) @ (.., k, m) product with 1-D operands promoted as numpy does.
TensorList matmul_backward(const Tensor& g_in, const Tensor& a_in, const Tensor& b_in, bool need_a, bool need_b) {
  Tensor a = a_in.dim() == 1 ? a_in.unsqueeze(0) : a_in;
  Tensor b = b_in.dim() == 1 ? b_in.unsqueeze(-1) : b_in;
  Tensor g = g_in;
  if (a_in.dim() == 1) g = g.unsqueeze(g.dim() == 0 ? 0 : (b_in.dim() == 1 ? 0 : g.dim() - 1));
  if (b_in.dim() == 1) g = g.unsqueeze(-1);
  Tensor ga, gb;
  if (need_a) ga = sum_to(ops::matmul(g, b.transpose(-1, -2)), a.shape()).reshape(a_in.shape());
  if (need_b) {
    if (b.dim() == 2 && a.dim() > 2) {
      // A shared weight: one GEMM over all the batch rows instead of one per batch and a reduction.
      Tensor a2 = a.reshape({-1, a.size(-1)});
      Tensor g2 = g.reshape({-1, g.size(-1)});
      gb = ops::matmul(a2.t(), g2).reshape(b_in.shape());
    } else {
      gb = sum_to(ops::matmul(a.transpose(-1, -2), g), b.shape()).reshape(b_in.shape());
    }
  }
  return {ga, gb};
}

Tensor record_matmul(const char* name, const Tensor& a, const Tensor& b, Tensor out) {
  if (!autograd::any_requires_grad({&a, &b})) return out;
  SavedTensor sa(a), sb(b);
  const bool na = a.requires_grad(), nb = b.requires_grad();
  return record(name, {a, b}, std::move(out),
                [=](const Tensor& g) { return matmul_backward(g, sa.get(), sb.get(), na, nb); });
}

}  // namespace

using autograd::detail::autocast_lower;

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = autocast_lower(a_in), b = autocast_lower(b_in);
  return record_matmul("MatmulBackward", a, b, raw([&] { return ops::matmul(a, b); }));
}
Tensor mm(const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = autocast_lower(a_in), b = autocast_lower(b_in);
  return record_matmul("MmBackward", a, b, raw([&] { return ops::mm(a, b); }));
}
Tensor bmm(const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = autocast_lower(a_in), b = autocast_lower(b_in);
  return record_matmul("BmmBackward", a, b, raw([&] { return ops::bmm(a, b); }));
}

// ---- joining ----
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  ICCRT_CHECK_VALUE(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& first = tensors[0];
  ICCRT_CHECK_VALUE(first.dim() > 0, "cat: zero-dimensional tensors cannot be concatenated; use stack");
  const int64_t d = wrap_dim(dim, first.dim());
  Shape shape = first.shape();
  shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    ICCRT_CHECK_DTYPE(t.dtype() == first.dtype(), "cat: tensor ", i, " has dtype ", dtype_name(t.dtype()),
                      " but tensor 0 has ", dtype_name(first.dtype()));
    ICCRT_CHECK_DEVICE(t.device() == first.device(), "cat: tensor ", i, " is on ", t.device().str(),
                       " but tensor 0 is on ", first.device().str());
    ICCRT_CHECK_SHAPE(t.dim() == first.dim(), "cat: tensor ", i, " has ", t.dim(), " dims but tensor 0 has ",
                      first.dim());
    for (int64_t k = 0; k < t.dim(); ++k)
      ICCRT_CHECK_SHAPE(k == d || t.size(k) == first.size(k), "cat: tensor ", i, " has shape ", t.shape(),
                        ", which differs from tensor 0's ", first.shape(), " outside dimension ", d);
    shape[d] += t.size(d);
  }
  Tensor out = empty(shape, TensorOptions(first.dtype(), first.device()));
  std::vector<int64_t> sizes;
  raw([&] {
    int64_t at = 0;
    for (const Tensor& t : tensors) {
      out.narrow(d, at, t.size(d)).copy_(t);
      sizes.push_back(t.size(d));
      at += t.size(d);
    }
    return 0;
  });
  if (!autograd::any_requires_grad(tensors)) return out;
  return record("CatBackward", tensors, TensorList{out}, [d, sizes](const TensorList& g) {
    TensorList grads;
    int64_t at = 0;
    for (int64_t n : sizes) {
      grads.push_back(g[0].narrow(d, at, n));
      at += n;
    }
    return grads;
  })[0];
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  ICCRT_CHECK_VALUE(!tensors.empty(), "stack: expected a non-empty list of tensors");
  const int64_t d = wrap_dim(dim, tensors[0].dim() + 1);
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    ICCRT_CHECK_SHAPE(tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " has shape ",
                      tensors[i].shape(), " but tensor 0 has ", tensors[0].shape());
    parts.push_back(tensors[i].unsqueeze(d));
  }
  return cat(parts, d);
}

}  // namespace iccrt
