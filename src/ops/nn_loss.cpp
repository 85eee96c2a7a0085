// Fused cross-entropy: per-row loss and log-sum-exp from one kernel, the reduction here. Targets are checked
// with the raw reductions (outside [0, C) and not ignore_index: IndexError naming the value), which also count
// the rows that take part in the mean. See Note [Cross-entropy with label smoothing] (cross_entropy.cpp).
#include <cmath>

#include "iccrt/ops/elementwise.hpp"
#include "iccrt/ops/nn.hpp"
#include "iccrt/ops/reduce.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cuda/nn_kernels.hpp"
#include "src/ops/nn_common.hpp"
#include "src/ops/op_common.hpp"

namespace iccrt::ops {
namespace {

enum class Reduction { Mean, Sum, None };

Reduction parse_reduction(const char* op, const std::string& r) {
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  ICCRT_CHECK_VALUE(r == "none", op, ": reduction must be 'mean', 'sum' or 'none', got '", r, "'");
  return Reduction::None;
}

// Rows and classes of logits [N, C] with target [N], or logits [C] with a 0-d target (one row).
struct Problem {
  int64_t n = 0, c = 0;
  Reduction reduction = Reduction::Mean;
};

Problem check_problem(const char* op, const Tensor& logits, const Tensor& target, double label_smoothing,
                      const std::string& reduction) {
  detail::check_floating(op, "logits", logits);
  detail::check_dtype(op, "target", target, DType::Int64);
  detail::common_device(op, {&logits, &target});
  ICCRT_CHECK_VALUE(label_smoothing >= 0.0 && label_smoothing <= 1.0, op, ": label_smoothing must be in [0, 1], got ",
                    label_smoothing);
  Problem p;
  p.reduction = parse_reduction(op, reduction);
  if (logits.dim() == 2) {
    ICCRT_CHECK_SHAPE(target.dim() == 1 && target.size(0) == logits.size(0), op, ": logits of shape ", logits.shape(),
                      " need a target of shape [", logits.size(0), "] but got ", target.shape());
    p.n = logits.size(0);
    p.c = logits.size(1);
  } else {
    ICCRT_CHECK_SHAPE(logits.dim() == 1, op, ": logits must be [N, C] or [C] but got shape ", logits.shape());
    ICCRT_CHECK_SHAPE(target.dim() == 0, op, ": logits of shape ", logits.shape(), " need a 0-d target but got shape ",
                      target.shape());
    p.n = 1;
    p.c = logits.size(0);
  }
  return p;
}

// Raises IndexError for a target outside [0, c) that is not ignore_index; returns the mask of non-ignored rows.
Tensor check_targets(const char* op, const Tensor& target, int64_t c, int64_t ignore_index) {
  Tensor valid = ops::ne(target, Scalar(ignore_index));
  if (target.numel() == 0) return valid;
  const Tensor zero = zeros({}, TensorOptions(DType::Int64, target.device()));
  const Tensor kept = ops::where(valid, target, zero);
  const int64_t lo = ops::min(kept).item<int64_t>(), hi = ops::max(kept).item<int64_t>();
  ICCRT_CHECK_INDEX(lo >= 0 && hi < c, op, ": target ", lo < 0 ? lo : hi, " is out of range for ", c,
                    " classes (expected [0, ", c, ") or ignore_index ", ignore_index, ")");
  return valid;
}

int64_t count_true(const Tensor& mask) { return mask.numel() == 0 ? 0 : ops::sum(mask).item<int64_t>(); }

}  // namespace

CrossEntropyResult cross_entropy(const Tensor& logits_in, const Tensor& target_in, int64_t ignore_index,
                                 double label_smoothing, const std::string& reduction) {
  const char* op = "cross_entropy";
  const Problem p = check_problem(op, logits_in, target_in, label_smoothing, reduction);
  const Tensor x = logits_in.contiguous(), t = target_in.contiguous().reshape({p.n});
  const Tensor valid = check_targets(op, t, p.c, ignore_index);
  const TensorOptions stat(detail::stat_dtype(x.dtype()), x.device());
  Tensor loss_rows = empty({p.n}, stat);
  CrossEntropyResult res;
  res.lse = empty({p.n}, stat);
  if (p.n > 0) {
    kernels::CrossEntropyArgs a;
    a.logits = x.data_ptr();
    a.target = t.data<int64_t>();
    a.loss_rows = loss_rows.data_ptr();
    a.lse = res.lse.data_ptr();
    a.dtype = x.dtype();
    a.n = p.n;
    a.c = p.c;
    a.ignore_index = ignore_index;
    a.label_smoothing = label_smoothing;
    detail::run_on(
        x.device(), [&] { kernels::cpu::cross_entropy_forward(a); },
        [&](void* s) { kernels::cuda::cross_entropy_forward(a, s); });
  }
  switch (p.reduction) {
    case Reduction::None:
      res.loss = loss_rows.to(x.dtype()).reshape(target_in.shape());
      break;
    case Reduction::Sum:
      res.loss = ops::sum(loss_rows).to(x.dtype());
      break;
    case Reduction::Mean:  // 0 / 0 = NaN when every row is ignored, as in PyTorch
      res.loss = ops::div(ops::sum(loss_rows), Scalar(static_cast<double>(count_true(valid)))).to(x.dtype());
      break;
  }
  res.lse = res.lse.reshape(target_in.shape());
  return res;
}

Tensor cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits_in, const Tensor& target_in,
                              const Tensor& lse_in, int64_t ignore_index, double label_smoothing,
                              const std::string& reduction) {
  const char* op = "cross_entropy_backward";
  const Problem p = check_problem(op, logits_in, target_in, label_smoothing, reduction);
  const DType sd = detail::stat_dtype(logits_in.dtype());
  detail::common_device(op, {&logits_in, &grad_loss, &lse_in});
  detail::check_dtype(op, "grad_loss", grad_loss, logits_in.dtype());
  detail::check_dtype(op, "lse", lse_in, sd);
  ICCRT_CHECK_SHAPE(lse_in.numel() == p.n, op, ": expected lse with one value per row (", p.n, ") but got shape ",
                    lse_in.shape());
  if (p.reduction == Reduction::None) {
    detail::check_shape(op, "grad_loss", grad_loss, target_in.shape());
  } else {
    ICCRT_CHECK_SHAPE(grad_loss.numel() == 1, op, ": with reduction '", reduction,
                      "' grad_loss must have one element but got shape ", grad_loss.shape());
  }
  const Tensor x = logits_in.contiguous(), t = target_in.contiguous().reshape({p.n});
  const Tensor lse = lse_in.contiguous();
  const Tensor valid = check_targets(op, t, p.c, ignore_index);
  Tensor grad = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  if (p.n == 0) return grad;

  // d loss / d loss_row: grad_loss per row ("none"), the same for every row ("sum"), or divided by the number
  // of counted rows ("mean"); 0 for ignored rows.
  Tensor scale = grad_loss.to(sd).reshape(p.reduction == Reduction::None ? Shape{p.n} : Shape{});
  if (p.reduction == Reduction::Mean) scale = ops::div(scale, Scalar(static_cast<double>(count_true(valid))));
  const Tensor row_scale = ops::where(valid, scale, zeros({}, TensorOptions(sd, x.device()))).contiguous();

  kernels::CrossEntropyArgs a;
  a.logits = x.data_ptr();
  a.target = t.data<int64_t>();
  a.lse = lse.data_ptr();
  a.row_scale = row_scale.data_ptr();
  a.grad_logits = grad.data_ptr();
  a.dtype = x.dtype();
  a.n = p.n;
  a.c = p.c;
  a.ignore_index = ignore_index;
  a.label_smoothing = label_smoothing;
  detail::run_on(
      x.device(), [&] { kernels::cpu::cross_entropy_backward(a); },
      [&](void* s) { kernels::cuda::cross_entropy_backward(a, s); });
  return grad;
}

}  // namespace iccrt::ops
