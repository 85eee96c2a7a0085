// Differentiable elementwise ops: each forward calls the raw op, then records its backward formula.
// Note [Broadcast gradients]: a binary op's operands may broadcast; the gradient for each is reduced back to
// its shape with sum_to, and comes back in the operand's dtype.
#include <cmath>

#include "iccrt/autograd/autocast.hpp"
#include "src/autograd/function_helpers.hpp"
#include "src/core/autograd_hook.hpp"

namespace iccrt {

using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;
using autograd::detail::raw;

namespace {

Tensor sign_of(const Tensor& x) { return ops::sub(ops::gt(x, 0).to(x.dtype()), ops::lt(x, 0).to(x.dtype())); }

// 1 where a wins, 0.5 on ties (the gradient is shared evenly), 0 where it loses.
Tensor winner_mask(const Tensor& a, const Tensor& b, bool greater) {
  const DType t = a.dtype();
  Tensor wins = (greater ? ops::gt(a, b) : ops::lt(a, b)).to(t);
  return ops::add(wins, ops::mul(ops::eq(a, b).to(t), 0.5));
}
Tensor winner_mask(const Tensor& a, Scalar s, bool greater) {
  const DType t = a.dtype();
  Tensor wins = (greater ? ops::gt(a, s) : ops::lt(a, s)).to(t);
  return ops::add(wins, ops::mul(ops::eq(a, s).to(t), 0.5));
}

// Under autocast, operands of two floating dtypes meet in the wider one (bf16 + f32 -> f32), recorded.
std::pair<Tensor, Tensor> promoted(const Tensor& a, const Tensor& b) {
  if (!autograd::autocast_state().enabled || a.dtype() == b.dtype()) return {a, b};
  if (!is_floating(a.dtype()) || !is_floating(b.dtype())) return {a, b};
  auto rank = [](DType t) { return t == DType::Float64 ? 3 : t == DType::Float32 ? 2 : 1; };
  const DType wide = rank(a.dtype()) >= rank(b.dtype()) ? a.dtype() : b.dtype();
  return {a.to(wide), b.to(wide)};
}

// Records a binary op's result; fn returns the two full-shape gradients, reduced here to each operand's shape.
template <class F>
Tensor record_binary(const char* name, const Tensor& a, const Tensor& b, Tensor out, F fn) {
  if (!autograd::any_requires_grad({&a, &b})) return out;
  const Shape sa = a.shape(), sb = b.shape();
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return record(name, {a, b}, std::move(out), [=](const Tensor& g) {
    auto [ga, gb] = fn(g, need_a, need_b);
    return TensorList{need_a ? sum_to(ga, sa) : Tensor(), need_b ? sum_to(gb, sb) : Tensor()};
  });
}

template <class F>
Tensor record_unary(const char* name, const Tensor& x, Tensor out, F fn) {
  if (!autograd::any_requires_grad({&x})) return out;
  return record(name, {x}, std::move(out), [fn = std::move(fn)](const Tensor& g) { return TensorList{fn(g)}; });
}

}  // namespace

// ---- unary ----
Tensor neg(const Tensor& x) {
  return record_unary("NegBackward", x, raw([&] { return ops::neg(x); }), [](const Tensor& g) { return ops::neg(g); });
}
Tensor abs(const Tensor& x) {
  SavedTensor sx(x);
  return record_unary("AbsBackward", x, raw([&] { return ops::abs(x); }),
                      [sx](const Tensor& g) { return ops::mul(g, sign_of(sx.get())); });
}
Tensor exp(const Tensor& x) {
  Tensor out = raw([&] { return ops::exp(x); });
  SavedTensor so(out);
  return record_unary("ExpBackward", x, out, [so](const Tensor& g) { return ops::mul(g, so.get()); });
}
Tensor log(const Tensor& x) {
  SavedTensor sx(x);
  return record_unary("LogBackward", x, raw([&] { return ops::log(x); }),
                      [sx](const Tensor& g) { return ops::div(g, sx.get()); });
}
Tensor sqrt(const Tensor& x) {
  Tensor out = raw([&] { return ops::sqrt(x); });
  SavedTensor so(out);
  return record_unary("SqrtBackward", x, out,
                      [so](const Tensor& g) { return ops::div(ops::mul(g, 0.5), so.get()); });
}
Tensor rsqrt(const Tensor& x) {
  Tensor out = raw([&] { return ops::rsqrt(x); });
  SavedTensor so(out);
  return record_unary("RsqrtBackward", x, out, [so](const Tensor& g) {
    const Tensor& o = so.get();
    return ops::mul(ops::mul(g, ops::mul(ops::mul(o, o), o)), -0.5);
  });
}
Tensor tanh(const Tensor& x) {
  Tensor out = raw([&] { return ops::tanh(x); });
  SavedTensor so(out);
  return record_unary("TanhBackward", x, out, [so](const Tensor& g) {
    const Tensor& o = so.get();
    return ops::mul(g, ops::rsub(ops::mul(o, o), 1));
  });
}
Tensor sigmoid(const Tensor& x) {
  Tensor out = raw([&] { return ops::sigmoid(x); });
  SavedTensor so(out);
  return record_unary("SigmoidBackward", x, out, [so](const Tensor& g) {
    const Tensor& o = so.get();
    return ops::mul(g, ops::mul(o, ops::rsub(o, 1)));
  });
}
Tensor relu(const Tensor& x) {
  Tensor out = raw([&] { return ops::relu(x); });
  SavedTensor so(out);
  return record_unary("ReluBackward", x, out,
                      [so](const Tensor& g) { return ops::mul(g, ops::gt(so.get(), 0).to(g.dtype())); });
}
Tensor gelu(const Tensor& x, const std::string& approximate) {
  SavedTensor sx(x);
  return record_unary("GeluBackward", x, raw([&] { return ops::gelu(x, approximate); }),
                      [sx, approximate](const Tensor& g) { return ops::gelu_backward(g, sx.get(), approximate); });
}
Tensor silu(const Tensor& x) {
  SavedTensor sx(x);
  return record_unary("SiluBackward", x, raw([&] { return ops::silu(x); }),
                      [sx](const Tensor& g) { return ops::silu_backward(g, sx.get()); });
}

// ---- binary ----
using GradPair = std::pair<Tensor, Tensor>;

Tensor add(const Tensor& a_in, const Tensor& b_in) {
  const auto operands = promoted(a_in, b_in);
  const Tensor& a = operands.first;
  const Tensor& b = operands.second;
  return record_binary("AddBackward", a, b, raw([&] { return ops::add(a, b); }),
                       [](const Tensor& g, bool, bool) { return GradPair{g, g}; });
}
Tensor sub(const Tensor& a_in, const Tensor& b_in) {
  const auto operands = promoted(a_in, b_in);
  const Tensor& a = operands.first;
  const Tensor& b = operands.second;
  return record_binary("SubBackward", a, b, raw([&] { return ops::sub(a, b); }),
                       [](const Tensor& g, bool, bool nb) { return GradPair{g, nb ? ops::neg(g) : Tensor()}; });
}
Tensor mul(const Tensor& a_in, const Tensor& b_in) {
  const auto operands = promoted(a_in, b_in);
  const Tensor& a = operands.first;
  const Tensor& b = operands.second;
  SavedTensor sa(a), sb(b);
  return record_binary("MulBackward", a, b, raw([&] { return ops::mul(a, b); }),
                       [sa, sb](const Tensor& g, bool na, bool nb) {
                         return GradPair{na ? ops::mul(g, sb.get()) : Tensor(), nb ? ops::mul(g, sa.get()) : Tensor()};
                       });
}
Tensor div(const Tensor& a_in, const Tensor& b_in) {
  const auto operands = promoted(a_in, b_in);
  const Tensor& a = operands.first;
  const Tensor& b = operands.second;
  Tensor out = raw([&] { return ops::div(a, b); });
  SavedTensor sb(b), so(out);
  return record_binary("DivBackward", a, b, out, [sb, so](const Tensor& g, bool na, bool nb) {
    Tensor ga = ops::div(g, sb.get());
    return GradPair{na ? ga : Tensor(), nb ? ops::neg(ops::mul(ga, so.get())) : Tensor()};
  });
}
Tensor pow(const Tensor& a_in, const Tensor& b_in) {
  const auto operands = promoted(a_in, b_in);
  const Tensor& a = operands.first;
  const Tensor& b = operands.second;
  Tensor out = raw([&] { return ops::pow(a, b); });
  SavedTensor sa(a), sb(b), so(out);
  return record_binary("PowBackward", a, b, out, [sa, sb, so](const Tensor& g, bool na, bool nb) {
    // As torch: a zero exponent gives a zero base gradient (not 0 * 0^-1), and a zero base with a
    // non-negative exponent a zero exponent gradient (not 0 * log 0).
    const Tensor& a = sa.get();
    const Tensor& b = sb.get();
    Tensor zero = zeros({}, TensorOptions(g.dtype(), g.device()));
    Tensor ga, gb;
    if (na) ga = ops::where(ops::eq(b, 0), zero, ops::mul(g, ops::mul(b, ops::pow(a, ops::sub(b, 1)))));
    if (nb) {
      Tensor base_zero = ops::gt(ops::mul(ops::eq(a, 0).to(g.dtype()), ops::ge(b, 0).to(g.dtype())), 0);
      gb = ops::where(base_zero, zero, ops::mul(g, ops::mul(so.get(), ops::log(a))));
    }
    return GradPair{ga, gb};
  });
}
Tensor maximum(const Tensor& a_in, const Tensor& b_in) {
  const auto operands = promoted(a_in, b_in);
  const Tensor& a = operands.first;
  const Tensor& b = operands.second;
  SavedTensor sa(a), sb(b);
  return record_binary("MaximumBackward", a, b, raw([&] { return ops::maximum(a, b); }),
                       [sa, sb](const Tensor& g, bool, bool) {
                         Tensor m = winner_mask(sa.get(), sb.get(), true);
                         return GradPair{ops::mul(g, m), ops::mul(g, ops::rsub(m, 1))};
                       });
}
Tensor minimum(const Tensor& a_in, const Tensor& b_in) {
  const auto operands = promoted(a_in, b_in);
  const Tensor& a = operands.first;
  const Tensor& b = operands.second;
  SavedTensor sa(a), sb(b);
  return record_binary("MinimumBackward", a, b, raw([&] { return ops::minimum(a, b); }),
                       [sa, sb](const Tensor& g, bool, bool) {
                         Tensor m = winner_mask(sa.get(), sb.get(), false);
                         return GradPair{ops::mul(g, m), ops::mul(g, ops::rsub(m, 1))};
                       });
}
Tensor eq(const Tensor& a, const Tensor& b) { return ops::eq(a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return ops::ne(a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return ops::lt(a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return ops::le(a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return ops::gt(a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return ops::ge(a, b); }

// ---- scalar ----
Tensor add(const Tensor& a, Scalar b) {
  return record_unary("AddBackward", a, raw([&] { return ops::add(a, b); }), [](const Tensor& g) { return g; });
}
Tensor sub(const Tensor& a, Scalar b) {
  return record_unary("SubBackward", a, raw([&] { return ops::sub(a, b); }), [](const Tensor& g) { return g; });
}
Tensor mul(const Tensor& a, Scalar b) {
  return record_unary("MulBackward", a, raw([&] { return ops::mul(a, b); }),
                      [b](const Tensor& g) { return ops::mul(g, b); });
}
Tensor div(const Tensor& a, Scalar b) {
  return record_unary("DivBackward", a, raw([&] { return ops::div(a, b); }),
                      [b](const Tensor& g) { return ops::div(g, b); });
}
Tensor pow(const Tensor& a, Scalar b) {
  SavedTensor sa(a);
  return record_unary("PowBackward", a, raw([&] { return ops::pow(a, b); }), [sa, b](const Tensor& g) {
    const double e = b.to_double();
    if (e == 0.0) return ops::mul(g, 0.0);  // not 0 * x^-1, which is NaN at x == 0
    return ops::mul(g, ops::mul(ops::pow(sa.get(), e - 1.0), e));
  });
}
Tensor maximum(const Tensor& a, Scalar b) {
  SavedTensor sa(a);
  return record_unary("MaximumBackward", a, raw([&] { return ops::maximum(a, b); }),
                      [sa, b](const Tensor& g) { return ops::mul(g, winner_mask(sa.get(), b, true)); });
}
Tensor minimum(const Tensor& a, Scalar b) {
  SavedTensor sa(a);
  return record_unary("MinimumBackward", a, raw([&] { return ops::minimum(a, b); }),
                      [sa, b](const Tensor& g) { return ops::mul(g, winner_mask(sa.get(), b, false)); });
}
Tensor rsub(const Tensor& a, Scalar b) {
  return record_unary("RsubBackward", a, raw([&] { return ops::rsub(a, b); }),
                      [](const Tensor& g) { return ops::neg(g); });
}
Tensor rdiv(const Tensor& a, Scalar b) {
  Tensor out = raw([&] { return ops::rdiv(a, b); });
  SavedTensor sa(a), so(out);
  return record_unary("RdivBackward", a, out,
                      [sa, so](const Tensor& g) { return ops::neg(ops::div(ops::mul(g, so.get()), sa.get())); });
}
Tensor rpow(const Tensor& a, Scalar b) {
  Tensor out = raw([&] { return ops::rpow(a, b); });
  SavedTensor so(out), sa(a);
  return record_unary("RpowBackward", a, out,
                      [so, sa, b](const Tensor& g) {
                        if (b.to_double() != 0.0) return ops::mul(ops::mul(g, so.get()), std::log(b.to_double()));
                        // 0^a: torch's convention, a zero gradient where a >= 0 (not 0 * log 0).
                        Tensor zero = zeros({}, TensorOptions(g.dtype(), g.device()));
                        return ops::where(ops::ge(sa.get(), 0), zero, ops::mul(ops::mul(g, so.get()), -INFINITY));
                      });
}
Tensor eq(const Tensor& a, Scalar b) { return ops::eq(a, b); }
Tensor ne(const Tensor& a, Scalar b) { return ops::ne(a, b); }
Tensor lt(const Tensor& a, Scalar b) { return ops::lt(a, b); }
Tensor le(const Tensor& a, Scalar b) { return ops::le(a, b); }
Tensor gt(const Tensor& a, Scalar b) { return ops::gt(a, b); }
Tensor ge(const Tensor& a, Scalar b) { return ops::ge(a, b); }

// ---- in place (never recorded: see detail::check_inplace) ----
Tensor& add_(Tensor& a, const Tensor& b) {
  detail::check_inplace(a, b, "add_");
  return ops::add_(a, b);
}
Tensor& sub_(Tensor& a, const Tensor& b) {
  detail::check_inplace(a, b, "sub_");
  return ops::sub_(a, b);
}
Tensor& mul_(Tensor& a, const Tensor& b) {
  detail::check_inplace(a, b, "mul_");
  return ops::mul_(a, b);
}
Tensor& div_(Tensor& a, const Tensor& b) {
  detail::check_inplace(a, b, "div_");
  return ops::div_(a, b);
}
Tensor& add_(Tensor& a, Scalar b) {
  detail::check_inplace(a, Tensor(), "add_");
  return ops::add_(a, b);
}
Tensor& mul_(Tensor& a, Scalar b) {
  detail::check_inplace(a, Tensor(), "mul_");
  return ops::mul_(a, b);
}

Tensor where(const Tensor& cond, const Tensor& a_in, const Tensor& b_in) {
  const auto operands = promoted(a_in, b_in);
  const Tensor& a = operands.first;
  const Tensor& b = operands.second;
  Tensor out = raw([&] { return ops::where(cond, a, b); });
  if (!autograd::any_requires_grad({&a, &b})) return out;
  SavedTensor sc(cond);
  const Shape sa = a.shape(), sb = b.shape();
  const bool na = a.requires_grad(), nb = b.requires_grad();
  return record("WhereBackward", {a, b}, std::move(out), [=](const Tensor& g) {
    Tensor zero = zeros({}, TensorOptions(g.dtype(), g.device()));
    return TensorList{na ? sum_to(ops::where(sc.get(), g, zero), sa) : Tensor(),
                      nb ? sum_to(ops::where(sc.get(), zero, g), sb) : Tensor()};
  });
}

Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, Scalar b) { return add(a, b); }
Tensor operator-(const Tensor& a, Scalar b) { return sub(a, b); }
Tensor operator*(const Tensor& a, Scalar b) { return mul(a, b); }
Tensor operator/(const Tensor& a, Scalar b) { return div(a, b); }

}  // namespace iccrt
