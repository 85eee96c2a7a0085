// Elementwise ops: validation (dtypes, devices, shapes) and dispatch to the CPU or CUDA kernels.
#include "iccrt/ops/elementwise.hpp"

#include <cmath>

#include "src/ops/op_common.hpp"

namespace iccrt::ops {
namespace {

using kernels::BinaryOp;
using kernels::UnaryOp;

const char* unary_name(UnaryOp op) {
  static const char* names[] = {"neg",  "abs",     "exp",  "log",  "sqrt", "rsqrt",
                                "tanh", "sigmoid", "relu", "gelu", "gelu", "silu"};
  return names[static_cast<int>(op)];
}
const char* binary_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                "eq",  "ne",  "lt",  "le",  "gt",  "ge"};
  return names[static_cast<int>(op)];
}

void check_unary_dtype(UnaryOp op, DType t) {
  const bool int_ok = op == UnaryOp::Neg || op == UnaryOp::Abs || op == UnaryOp::Relu;
  ICCRT_CHECK_DTYPE(t != DType::Bool, unary_name(op), " does not support bool tensors");
  ICCRT_CHECK_DTYPE(is_floating(t) || int_ok, unary_name(op), " expects a floating tensor but got ", dtype_name(t),
                    "; convert with .to(float32)");
}

void check_binary_dtype(BinaryOp op, DType t) {
  if (kernels::is_comparison(op)) return;
  ICCRT_CHECK_DTYPE(t != DType::Bool, binary_name(op), " does not support bool tensors");
  ICCRT_CHECK_DTYPE(op != BinaryOp::Div || is_floating(t), "div (true division) expects floating tensors but got ",
                    dtype_name(t), "; convert with .to(float32)");
}

DType result_dtype(BinaryOp op, DType in) { return kernels::is_comparison(op) ? DType::Bool : in; }

Tensor unary_op(UnaryOp op, const Tensor& x) {
  ICCRT_CHECK(x.defined(), unary_name(op), ": undefined tensor");
  check_unary_dtype(op, x.dtype());
  Tensor out = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  if (out.numel() == 0) return out;
  const auto args = detail::elementwise_args(out, {&x});
  detail::run_on(
      x.device(), [&] { kernels::cpu::unary(op, args); }, [&](void* s) { kernels::cuda::unary(op, args, s); });
  return out;
}

void binary_into(BinaryOp op, const Tensor& out, const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = detail::unalias(out, a_in), b = detail::unalias(out, b_in);
  if (out.numel() == 0) return;
  const auto args = detail::elementwise_args(out, {&a, &b});
  detail::run_on(
      out.device(), [&] { kernels::cpu::binary(op, args); }, [&](void* s) { kernels::cuda::binary(op, args, s); });
}

void check_binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  detail::common_device(binary_name(op), {&a, &b});
  ICCRT_CHECK_DTYPE(a.dtype() == b.dtype(), binary_name(op), ": expected both operands to have the same dtype, got ",
                    dtype_name(a.dtype()), " and ", dtype_name(b.dtype()), "; convert one with .to()");
  check_binary_dtype(op, a.dtype());
}

Tensor binary_op(BinaryOp op, const Tensor& a, const Tensor& b) {
  check_binary(op, a, b);
  const Shape shape = broadcast_shapes(a.shape(), b.shape());
  Tensor out = empty(shape, TensorOptions(result_dtype(op, a.dtype()), a.device()));
  binary_into(op, out, a, b);
  return out;
}

Tensor& binary_inplace(BinaryOp op, Tensor& a, const Tensor& b) {
  check_binary(op, a, b);
  ICCRT_CHECK_SHAPE(broadcast_shapes(a.shape(), b.shape()) == a.shape(), binary_name(op),
                    "_: the result of broadcasting ", a.shape(), " with ", b.shape(),
                    " does not fit the in-place output shape ", a.shape());
  a.storage()->bump_version();
  binary_into(op, a, a, b);
  return a;
}

// The scalar must be usable in x's dtype without changing the result type.
void check_scalar(BinaryOp op, DType t, const Scalar& s) { detail::check_scalar_fits(binary_name(op), t, s); }

// Note [Comparing integer tensors with any scalar]
// x < 2.5 for integer x is x < 3, x <= 2.5 is x <= 2, and x == 2.5 is never true; a scalar beyond the dtype's
// range makes the answer the same for every element. Rewriting the comparison this way keeps it exact instead
// of converting the scalar to the tensor's dtype (which would wrap 300 to 44 for uint8).
struct IntComparison {
  bool constant;  // the result is `value` everywhere
  bool value;
  Scalar bound;   // otherwise compare against this integer
};

IntComparison integer_comparison(BinaryOp op, DType t, const Scalar& s) {
  double lo, hi;
  detail::integer_range(t, lo, hi);
  if (s.kind != Scalar::Kind::Float) {
    if (t == DType::Int64 || (s.i >= static_cast<int64_t>(lo) && s.i <= static_cast<int64_t>(hi)))
      return {false, false, Scalar(s.i)};
  }
  const double v = s.to_double();
  if (std::isnan(v)) return {true, op == BinaryOp::Ne, Scalar(0)};
  const bool integral = std::floor(v) == v;
  if (!integral && op == BinaryOp::Eq) return {true, false, Scalar(0)};
  if (!integral && op == BinaryOp::Ne) return {true, true, Scalar(0)};
  const double k = (op == BinaryOp::Lt || op == BinaryOp::Ge) ? std::ceil(v) : std::floor(v);
  if (k > hi) return {true, op == BinaryOp::Lt || op == BinaryOp::Le || op == BinaryOp::Ne, Scalar(0)};
  if (k < lo) return {true, op == BinaryOp::Gt || op == BinaryOp::Ge || op == BinaryOp::Ne, Scalar(0)};
  return {false, false, Scalar(static_cast<int64_t>(k))};
}

void scalar_into(BinaryOp op, const Tensor& out, const Tensor& x_in, Scalar s, bool reversed) {
  const Tensor x = detail::unalias(out, x_in);
  if (out.numel() == 0) return;
  const auto args = detail::elementwise_args(out, {&x});
  detail::run_on(
      out.device(), [&] { kernels::cpu::binary_scalar(op, args, s, reversed); },
      [&](void* st) { kernels::cuda::binary_scalar(op, args, s, reversed, st); });
}

Tensor& scalar_inplace(BinaryOp op, Tensor& a, Scalar s) {
  check_binary_dtype(op, a.dtype());
  check_scalar(op, a.dtype(), s);
  a.storage()->bump_version();
  scalar_into(op, a, a, s, false);
  return a;
}

Tensor scalar_op(BinaryOp op, const Tensor& x, Scalar s, bool reversed = false) {
  ICCRT_CHECK(x.defined(), binary_name(op), ": undefined tensor");
  check_binary_dtype(op, x.dtype());
  if (kernels::is_comparison(op) && !is_floating(x.dtype())) {
    const IntComparison c = integer_comparison(op, x.dtype(), s);
    if (c.constant) return full(x.shape(), c.value, TensorOptions(DType::Bool, x.device()));
    s = c.bound;
  } else {
    check_scalar(op, x.dtype(), s);
  }
  if (op == BinaryOp::Pow && is_integral(x.dtype()) && !reversed) {
    ICCRT_CHECK_VALUE(s.to<int64_t>() >= 0, "pow: integer tensors cannot be raised to a negative integer power (",
                      s.to<int64_t>(), ")");
  }
  Tensor out = empty(x.shape(), TensorOptions(result_dtype(op, x.dtype()), x.device()));
  scalar_into(op, out, x, s, reversed);
  return out;
}

}  // namespace

Tensor neg(const Tensor& x) { return unary_op(UnaryOp::Neg, x); }
Tensor abs(const Tensor& x) { return unary_op(UnaryOp::Abs, x); }
Tensor exp(const Tensor& x) { return unary_op(UnaryOp::Exp, x); }
Tensor log(const Tensor& x) { return unary_op(UnaryOp::Log, x); }
Tensor sqrt(const Tensor& x) { return unary_op(UnaryOp::Sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary_op(UnaryOp::Rsqrt, x); }
Tensor tanh(const Tensor& x) { return unary_op(UnaryOp::Tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary_op(UnaryOp::Sigmoid, x); }
Tensor relu(const Tensor& x) { return unary_op(UnaryOp::Relu, x); }
Tensor silu(const Tensor& x) { return unary_op(UnaryOp::Silu, x); }
Tensor gelu(const Tensor& x, const std::string& approximate) {
  ICCRT_CHECK_VALUE(approximate == "none" || approximate == "tanh", "gelu: approximate must be 'none' or 'tanh', got '",
                    approximate, "'");
  return unary_op(approximate == "tanh" ? UnaryOp::GeluTanh : UnaryOp::GeluErf, x);
}

Tensor add(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Pow, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Minimum, a, b); }
Tensor eq(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Ge, a, b); }

Tensor add(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Div, a, b); }
Tensor pow(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Pow, a, b); }
Tensor maximum(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Maximum, a, b); }
Tensor minimum(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Minimum, a, b); }
Tensor rsub(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Sub, a, b, true); }
Tensor rdiv(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Div, a, b, true); }
Tensor rpow(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Pow, a, b, true); }
Tensor eq(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, Scalar b) { return scalar_op(BinaryOp::Ge, a, b); }

Tensor& add_(Tensor& a, const Tensor& b) { return binary_inplace(BinaryOp::Add, a, b); }
Tensor& sub_(Tensor& a, const Tensor& b) { return binary_inplace(BinaryOp::Sub, a, b); }
Tensor& mul_(Tensor& a, const Tensor& b) { return binary_inplace(BinaryOp::Mul, a, b); }
Tensor& div_(Tensor& a, const Tensor& b) { return binary_inplace(BinaryOp::Div, a, b); }

Tensor& add_(Tensor& a, Scalar b) { return scalar_inplace(BinaryOp::Add, a, b); }
Tensor& mul_(Tensor& a, Scalar b) { return scalar_inplace(BinaryOp::Mul, a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::common_device("where", {&cond, &a, &b});
  ICCRT_CHECK_DTYPE(cond.dtype() == DType::Bool, "where: condition must be a bool tensor, got ",
                    dtype_name(cond.dtype()));
  ICCRT_CHECK_DTYPE(a.dtype() == b.dtype(), "where: expected both branches to have the same dtype, got ",
                    dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape()), b.shape());
  Tensor out = empty(shape, TensorOptions(a.dtype(), a.device()));
  if (out.numel() == 0) return out;
  const auto args = detail::elementwise_args(out, {&cond, &a, &b});
  detail::run_on(
      out.device(), [&] { kernels::cpu::where(args); }, [&](void* s) { kernels::cuda::where(args, s); });
  return out;
}

}  // namespace iccrt::ops
