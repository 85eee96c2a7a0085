// embedding (a row gather) and its backward (a scatter-add into a stat-dtype accumulator). Indices are checked
// against [0, num_embeddings) with the raw min / max reductions before any kernel runs, so a bad index raises
// IndexError naming it instead of reading or writing out of bounds.
#include "iccrt/ops/nn.hpp"
#include "iccrt/ops/reduce.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cuda/nn_kernels.hpp"
#include "src/ops/nn_common.hpp"
#include "src/ops/op_common.hpp"

namespace iccrt::ops {
namespace {

void check_index_dtype(const char* op, const Tensor& indices) {
  detail::check_defined(op, "indices", indices);
  ICCRT_CHECK_DTYPE(indices.dtype() == DType::Int64 || indices.dtype() == DType::Int32, op,
                    ": indices must be int64 or int32 but got ", dtype_name(indices.dtype()));
}

// IndexError unless every index lies in [0, num).
void check_index_range(const char* op, const Tensor& indices, int64_t num) {
  if (indices.numel() == 0) return;
  const int64_t lo = ops::min(indices).item<int64_t>();
  const int64_t hi = ops::max(indices).item<int64_t>();
  ICCRT_CHECK_INDEX(lo >= 0 && hi < num, op, ": index ", lo < 0 ? lo : hi, " is out of range for ", num,
                    " embeddings (expected indices in [0, ", num, "))");
}

}  // namespace

Tensor embedding(const Tensor& weight_in, const Tensor& indices_in) {
  const char* op = "embedding";
  detail::check_floating(op, "weight", weight_in);
  check_index_dtype(op, indices_in);
  detail::common_device(op, {&weight_in, &indices_in});
  ICCRT_CHECK_SHAPE(weight_in.dim() == 2, op, ": weight must be 2-D [num_embeddings, dim] but got shape ",
                    weight_in.shape());
  const int64_t num = weight_in.size(0), dim = weight_in.size(1);
  const Tensor idx = indices_in.contiguous(), w = weight_in.contiguous();
  check_index_range(op, idx, num);
  Shape out_shape = idx.shape();
  out_shape.push_back(dim);
  Tensor out = empty(out_shape, TensorOptions(w.dtype(), w.device()));
  if (out.numel() == 0) return out;
  kernels::EmbeddingArgs a;
  a.weight = w.data_ptr();
  a.indices = idx.data_ptr();
  a.index_dtype = idx.dtype();
  a.out = out.data_ptr();
  a.dtype = w.dtype();
  a.n = idx.numel();
  a.num = num;
  a.dim = dim;
  detail::run_on(
      w.device(), [&] { kernels::cpu::embedding_forward(a); },
      [&](void* s) { kernels::cuda::embedding_forward(a, s); });
  return out;
}

Tensor embedding_backward(const Tensor& grad_in, const Tensor& indices_in, int64_t num_embeddings,
                          int64_t padding_idx) {
  const char* op = "embedding_backward";
  detail::check_floating(op, "grad_out", grad_in);
  check_index_dtype(op, indices_in);
  detail::common_device(op, {&grad_in, &indices_in});
  ICCRT_CHECK_VALUE(num_embeddings >= 0, op, ": num_embeddings must be non-negative, got ", num_embeddings);
  ICCRT_CHECK_VALUE(padding_idx < num_embeddings, op, ": padding_idx ", padding_idx, " is out of range for ",
                    num_embeddings, " embeddings");
  bool match = grad_in.dim() == indices_in.dim() + 1;
  for (int64_t d = 0; match && d < indices_in.dim(); ++d) match = grad_in.size(d) == indices_in.size(d);
  ICCRT_CHECK_SHAPE(match, op, ": grad_out shape ", grad_in.shape(), " does not match indices shape ",
                    indices_in.shape(), " + [dim]");
  const int64_t dim = grad_in.size(-1);
  const Tensor idx = indices_in.contiguous(), g = grad_in.contiguous();
  check_index_range(op, idx, num_embeddings);
  const DType sd = detail::stat_dtype(g.dtype());
  Tensor acc = zeros({num_embeddings, dim}, TensorOptions(sd, g.device()));
  if (idx.numel() > 0 && dim > 0) {
    kernels::EmbeddingArgs a;
    a.indices = idx.data_ptr();
    a.index_dtype = idx.dtype();
    a.grad_out = g.data_ptr();
    a.grad_weight = acc.data_ptr();
    a.dtype = g.dtype();
    a.n = idx.numel();
    a.num = num_embeddings;
    a.dim = dim;
    a.padding_idx = padding_idx < 0 ? -1 : padding_idx;
    detail::run_on(
        g.device(), [&] { kernels::cpu::embedding_backward(a); },
        [&](void* s) { kernels::cuda::embedding_backward(a, s); });
  }
  return acc.to(g.dtype());
}

}  // namespace iccrt::ops
