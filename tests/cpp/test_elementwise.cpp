// Elementwise ops against float64 references computed here from the already-rounded inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "iccrt/core/error.hpp"
#include "iccrt/autograd/functions.hpp"
#include "iccrt/ops/elementwise.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

using test::close_to;
using test::default_tol;
using test::equals;
using test::to_host;

// An integer result as the dtype stores it (two's-complement wrap-around).
double wrap_int(DType t, double v) {
  const int64_t i = static_cast<int64_t>(v);
  switch (t) {
    case DType::Int32:
      return static_cast<int32_t>(static_cast<uint32_t>(i));
    case DType::UInt8:
      return static_cast<uint8_t>(i);
    default:
      return static_cast<double>(i);
  }
}

// The reference result of an op whose exact value is r, as stored by dtype t (rounding is left to the tolerance
// for floating types; integer results wrap).
double store_ref(DType t, double r) { return is_floating(t) ? r : wrap_int(t, r); }

double ipow(double base, double e) {
  double r = 1;
  for (int i = 0; i < static_cast<int>(e); ++i) r *= base;
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// unary

struct UnaryCase {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> ref;
  double lo, hi;  // input range for floating types
  bool int_ok;
};

const std::vector<UnaryCase>& unary_cases() {
  static const std::vector<UnaryCase> v = {
      {"neg", [](const Tensor& x) { return neg(x); }, [](double x) { return -x; }, -5, 5, true},
      {"abs", [](const Tensor& x) { return abs(x); }, [](double x) { return std::fabs(x); }, -5, 5, true},
      {"exp", [](const Tensor& x) { return exp(x); }, [](double x) { return std::exp(x); }, -8, 8, false},
      {"log", [](const Tensor& x) { return log(x); }, [](double x) { return std::log(x); }, 0.05, 20, false},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, [](double x) { return std::sqrt(x); }, 0, 20, false},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); }, 0.05, 20, false},
      {"tanh", [](const Tensor& x) { return tanh(x); }, [](double x) { return std::tanh(x); }, -5, 5, false},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, [](double x) { return 1 / (1 + std::exp(-x)); }, -10, 10,
       false},
      {"relu", [](const Tensor& x) { return relu(x); }, [](double x) { return x > 0 ? x : 0.0; }, -5, 5, true},
      {"gelu", [](const Tensor& x) { return gelu(x); },
       [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, -5, 5, false},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); },
       [](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }, -5, 5,
       false},
      {"silu", [](const Tensor& x) { return silu(x); }, [](double x) { return x / (1 + std::exp(-x)); }, -10, 10,
       false},
  };
  return v;
}

void check_unary(const UnaryCase& c, DType t, const Tensor& x, const std::string& what) {
  const auto xs = to_host(x);
  std::vector<double> ref(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) ref[i] = store_ref(t, c.ref(xs[i]));
  Tensor y = c.op(x);
  EXPECT_EQ(y.dtype(), t);
  EXPECT_TRUE(close_to(y, x.shape(), ref, default_tol(t))) << c.name << " " << dtype_name(t) << " " << what;
}

TEST(Unary, EveryOpEveryDtypeAndLayout) {
  std::mt19937 rng(1);
  const std::vector<DType> dtypes = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16,
                                     DType::Int32,   DType::Int64,   DType::UInt8};
  for (const auto& c : unary_cases()) {
    for (DType t : dtypes) {
      if (!is_floating(t) && !c.int_ok) continue;
      const double lo = is_floating(t) ? c.lo : (t == DType::UInt8 ? 0 : -50);
      const double hi = is_floating(t) ? c.hi : (t == DType::UInt8 ? 255 : 50);
      for (int64_t n : {0, 1, 7, 1023, 1 << 20}) {
        check_unary(c, t, test::random_tensor({n}, t, lo, hi, rng), "n=" + std::to_string(n));
      }
      // Non-contiguous: a transpose, and a stepped slice.
      check_unary(c, t, test::random_tensor({33, 31}, t, lo, hi, rng).t(), "transposed [31, 33]");
      check_unary(c, t, test::random_tensor({3 * 1023}, t, lo, hi, rng).slice(0, 1, 3 * 1023, 3), "slice step 3");
      check_unary(c, t, test::random_tensor({4, 5, 6}, t, lo, hi, rng).permute({2, 0, 1}).slice(2, 0, 5, 2),
                  "permuted + sliced");
    }
  }
}

TEST(Unary, LargeNonContiguous) {
  std::mt19937 rng(2);
  for (DType t : {DType::Float32, DType::BFloat16}) {
    for (const auto& c : unary_cases()) {
      check_unary(c, t, test::random_tensor({1024, 1025}, t, c.lo, c.hi, rng).t(), "transposed [1025, 1024]");
    }
  }
}

TEST(Unary, SpecialValues) {
  const double inf = INFINITY;
  Tensor x = from_vector({0.0, -0.0, inf, -inf, NAN, -1.0}, {6}, DType::Float32);
  EXPECT_TRUE(equals(exp(x), {6}, {1, 1, inf, 0, NAN, std::exp(-1.0f)}));
  EXPECT_TRUE(equals(relu(x), {6}, {0, 0, inf, 0, NAN, 0}));
  const auto l = to_host(log(x));
  EXPECT_EQ(l[0], -inf);
  EXPECT_EQ(l[2], inf);
  EXPECT_TRUE(std::isnan(l[4]));
  EXPECT_TRUE(std::isnan(l[5]));
  EXPECT_TRUE(std::isnan(to_host(sqrt(x))[5]));
  EXPECT_EQ(to_host(rsqrt(x))[0], inf);
  EXPECT_TRUE(equals(sigmoid(from_vector({-inf, inf, 0}, {3}, DType::Float32)), {3}, {0, 1, 0.5}));
  EXPECT_TRUE(equals(tanh(from_vector({-inf, inf, 0}, {3}, DType::Float16)), {3}, {-1, 1, 0}));
  // Large magnitudes must not overflow to NaN inside sigmoid/silu/gelu.
  Tensor big = from_vector({-100, 100, -88.5, 88.5}, {4}, DType::Float32);
  EXPECT_TRUE(close_to(sigmoid(big), {4}, {0, 1, 0, 1}, {1e-6, 1e-30}));
  EXPECT_TRUE(close_to(silu(big), {4}, {0, 100, 0, 88.5}, {1e-6, 1e-30}));
  EXPECT_TRUE(close_to(gelu(big), {4}, {0, 100, 0, 88.5}, {1e-6, 1e-30}));
  EXPECT_TRUE(close_to(gelu(big, "tanh"), {4}, {0, 100, 0, 88.5}, {1e-6, 1e-30}));
  EXPECT_THROW(gelu(big, "erf"), ValueError);
}

TEST(Unary, FloatingOnlyOpsRejectIntegers) {
  for (DType t : {DType::Int32, DType::Int64, DType::UInt8, DType::Bool}) {
    Tensor x = ones({3}, t);
    for (const auto& c : unary_cases()) {
      if (c.int_ok) continue;
      EXPECT_THROW(c.op(x), DTypeError) << c.name << " " << dtype_name(t);
    }
  }
  EXPECT_THROW(neg(Tensor()), Error);
}

// ---------------------------------------------------------------------------------------------------------------
// binary

struct BinaryCase {
  const char* name;
  std::function<Tensor(const Tensor&, const Tensor&)> op;
  std::function<Tensor(const Tensor&, Scalar)> scalar_op;  // may be empty
  std::function<double(double, double)> ref;
  bool int_ok, cmp;
};

const std::vector<BinaryCase>& binary_cases() {
  using T = const Tensor&;
  static const std::vector<BinaryCase> v = {
      {"add", [](T a, T b) { return add(a, b); }, [](T a, Scalar s) { return add(a, s); },
       [](double a, double b) { return a + b; }, true, false},
      {"sub", [](T a, T b) { return sub(a, b); }, [](T a, Scalar s) { return sub(a, s); },
       [](double a, double b) { return a - b; }, true, false},
      {"mul", [](T a, T b) { return mul(a, b); }, [](T a, Scalar s) { return mul(a, s); },
       [](double a, double b) { return a * b; }, true, false},
      {"div", [](T a, T b) { return div(a, b); }, [](T a, Scalar s) { return div(a, s); },
       [](double a, double b) { return a / b; }, false, false},
      {"pow", [](T a, T b) { return pow(a, b); }, [](T a, Scalar s) { return pow(a, s); },
       [](double a, double b) { return std::pow(a, b); }, true, false},
      {"maximum", [](T a, T b) { return maximum(a, b); }, [](T a, Scalar s) { return maximum(a, s); },
       [](double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b); }, true, false},
      {"minimum", [](T a, T b) { return minimum(a, b); }, [](T a, Scalar s) { return minimum(a, s); },
       [](double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b); }, true, false},
      {"eq", [](T a, T b) { return eq(a, b); }, [](T a, Scalar s) { return eq(a, s); },
       [](double a, double b) { return double(a == b); }, true, true},
      {"ne", [](T a, T b) { return ne(a, b); }, [](T a, Scalar s) { return ne(a, s); },
       [](double a, double b) { return double(a != b); }, true, true},
      {"lt", [](T a, T b) { return lt(a, b); }, [](T a, Scalar s) { return lt(a, s); },
       [](double a, double b) { return double(a < b); }, true, true},
      {"le", [](T a, T b) { return le(a, b); }, [](T a, Scalar s) { return le(a, s); },
       [](double a, double b) { return double(a <= b); }, true, true},
      {"gt", [](T a, T b) { return gt(a, b); }, [](T a, Scalar s) { return gt(a, s); },
       [](double a, double b) { return double(a > b); }, true, true},
      {"ge", [](T a, T b) { return ge(a, b); }, [](T a, Scalar s) { return ge(a, s); },
       [](double a, double b) { return double(a >= b); }, true, true},
      {"operator+", [](T a, T b) { return a + b; }, [](T a, Scalar s) { return a + s; },
       [](double a, double b) { return a + b; }, true, false},
      {"operator-", [](T a, T b) { return a - b; }, [](T a, Scalar s) { return a - s; },
       [](double a, double b) { return a - b; }, true, false},
      {"operator*", [](T a, T b) { return a * b; }, [](T a, Scalar s) { return a * s; },
       [](double a, double b) { return a * b; }, true, false},
      {"operator/", [](T a, T b) { return a / b; }, [](T a, Scalar s) { return a / s; },
       [](double a, double b) { return a / b; }, false, false},
  };
  return v;
}

// Random operands suited to the op: divisors away from zero, positive pow bases, small integer powers, and a
// coarse grid for comparisons so that ties occur.
Tensor operand(const BinaryCase& c, bool second, const Shape& shape, DType t, std::mt19937& rng) {
  const std::string n = c.name;
  const int64_t count = test::numel_of(shape);
  std::vector<double> v(static_cast<size_t>(count));
  if (c.cmp) {
    std::uniform_int_distribution<int> d(t == DType::UInt8 ? 0 : -8, 8);
    for (auto& x : v) x = is_floating(t) ? d(rng) / 4.0 : std::trunc(d(rng) / 2.0);
    if (t == DType::Bool)
      for (auto& x : v) x = x > 0;
    return test::make(v, shape, t);
  }
  if (n == "pow") {
    if (is_floating(t)) return test::random_tensor(shape, t, second ? -2 : 0.5, second ? 2.5 : 3, rng);
    if (second) return test::random_tensor(shape, t, 0, 4, rng);
    return test::random_tensor(shape, t, t == DType::UInt8 ? 0 : -4, 4, rng);
  }
  if (n == "div" || n == "operator/") {
    if (!second) return test::random_tensor(shape, t, -10, 10, rng);
    v = test::random_values(count, t, 0.5, 4, rng);
    std::bernoulli_distribution sign;
    for (auto& x : v) x = sign(rng) ? -x : x;
    return test::make(v, shape, t);
  }
  if (t == DType::UInt8) return test::random_tensor(shape, t, 0, 15, rng);
  if (!is_floating(t)) return test::random_tensor(shape, t, -100, 100, rng);
  return test::random_tensor(shape, t, -10, 10, rng);
}

double binary_ref(const BinaryCase& c, DType t, double a, double b) {
  if (c.cmp) return c.ref(a, b);
  if (std::string(c.name) == "pow" && !is_floating(t)) return wrap_int(t, ipow(a, b));
  return store_ref(t, c.ref(a, b));
}

void check_binary(const BinaryCase& c, DType t, const Tensor& a, const Tensor& b, const std::string& what) {
  const Shape shape = test::broadcast_ref(a.shape(), b.shape());
  const auto av = to_host(a), bv = to_host(b);
  std::vector<double> ref;
  test::for_each_index(shape, [&](const std::vector<int64_t>& idx) {
    ref.push_back(binary_ref(c, t, av[test::broadcast_flat(a.shape(), idx)], bv[test::broadcast_flat(b.shape(), idx)]));
  });
  Tensor y = c.op(a, b);
  EXPECT_EQ(y.dtype(), c.cmp ? DType::Bool : t) << c.name;
  EXPECT_TRUE(close_to(y, shape, ref, c.cmp ? test::Tol{0, 0} : default_tol(t)))
      << c.name << " " << dtype_name(t) << " " << what;
}

TEST(Binary, EveryOpEveryDtypeWithBroadcasting) {
  std::mt19937 rng(3);
  for (const auto& c : binary_cases()) {
    for (DType t : test::all_dtypes()) {
      if (t == DType::Bool && !(std::string(c.name) == "eq" || std::string(c.name) == "ne")) continue;
      if (!is_floating(t) && !c.int_ok) continue;
      auto A = [&](const Shape& s) { return operand(c, false, s, t, rng); };
      auto B = [&](const Shape& s) { return operand(c, true, s, t, rng); };
      check_binary(c, t, A({7}), B({7}), "same shape");
      check_binary(c, t, A({1 << 18}), B({1 << 18}), "256K (threaded)");
      check_binary(c, t, A({0, 3}), B({3}), "empty");
      check_binary(c, t, A({3, 1, 5}), B({4, 1}), "[3,1,5] x [4,1]");
      check_binary(c, t, A({4, 1}), B({3, 1, 5}), "[4,1] x [3,1,5]");
      check_binary(c, t, A({2, 3, 4}), B({}), "0-d right");
      check_binary(c, t, A({}), B({2, 3, 4}), "0-d left");
      check_binary(c, t, A({}), B({}), "0-d both");
      check_binary(c, t, A({1}), B({1000}), "[1] x [1000]");
      check_binary(c, t, A({33, 31}).t(), B({31, 66}).slice(1, 0, 66, 2), "transposed x stepped slice");
      check_binary(c, t, A({5, 31}).t().unsqueeze(1), B({4, 5}), "non-contiguous broadcast");
      check_binary(c, t, A({300, 700}).t(), B({700, 1}), "large transposed x column");
    }
  }
}

TEST(Binary, ScalarAndReversedForms) {
  std::mt19937 rng(4);
  struct S {
    Scalar s;
    bool floating_only;
  };
  for (DType t :
       {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int32, DType::Int64, DType::UInt8}) {
    for (const S& sc : {S{Scalar(2), false}, S{Scalar(3.0), false}, S{Scalar(0.5), true}, S{Scalar(-1.25), true}}) {
      if (sc.floating_only && !is_floating(t)) continue;
      const double s = sc.s.to_double();
      for (const auto& c : binary_cases()) {
        if (!is_floating(t) && !c.int_ok) continue;
        if (std::string(c.name) == "pow" && s < 0 && !is_floating(t)) continue;
        Tensor x = operand(c, false, {9, 11}, t, rng).t();
        const auto xv = to_host(x);
        std::vector<double> ref(xv.size());
        for (size_t i = 0; i < xv.size(); ++i) ref[i] = binary_ref(c, t, xv[i], s);
        EXPECT_TRUE(close_to(c.scalar_op(x, sc.s), x.shape(), ref, c.cmp ? test::Tol{0, 0} : default_tol(t)))
            << c.name << " " << dtype_name(t) << " scalar " << s;
      }
      // r-forms: s - x, s / x, s ** x
      Tensor x = is_floating(t) ? test::random_tensor({257}, t, 0.5, 3, rng) : test::random_tensor({257}, t, 0, 4, rng);
      const auto xv = to_host(x);
      std::vector<double> rs(xv.size()), rd(xv.size()), rp(xv.size());
      for (size_t i = 0; i < xv.size(); ++i) {
        rs[i] = store_ref(t, s - xv[i]);
        rd[i] = s / xv[i];
        rp[i] = is_floating(t) ? std::pow(s, xv[i]) : wrap_int(t, ipow(s, xv[i]));
      }
      EXPECT_TRUE(close_to(rsub(x, sc.s), {257}, rs, default_tol(t))) << "rsub " << dtype_name(t) << " " << s;
      EXPECT_TRUE(close_to(rpow(x, sc.s), {257}, rp, default_tol(t))) << "rpow " << dtype_name(t) << " " << s;
      if (is_floating(t)) {
        EXPECT_TRUE(close_to(rdiv(x, sc.s), {257}, rd, default_tol(t))) << "rdiv " << dtype_name(t) << " " << s;
      } else {
        EXPECT_THROW(rdiv(x, sc.s), DTypeError) << dtype_name(t);
      }
    }
  }
}

TEST(Binary, InPlace) {
  std::mt19937 rng(5);
  for (DType t : test::floating_dtypes()) {
    std::vector<double> av, bv;
    Tensor base = test::random_tensor({5, 4}, t, -5, 5, rng, &av);
    Tensor a = base.t();  // [4, 5] non-contiguous output
    Tensor b = test::random_tensor({5}, t, 0.5, 2, rng, &bv);
    const auto a0 = to_host(a);
    struct Op {
      const char* name;
      std::function<Tensor&(Tensor&, const Tensor&)> f;
      std::function<double(double, double)> r;
    };
    const Op ops[] = {{"add_", [](Tensor& x, const Tensor& y) -> Tensor& { return add_(x, y); },
                       [](double x, double y) { return x + y; }},
                      {"sub_", [](Tensor& x, const Tensor& y) -> Tensor& { return sub_(x, y); },
                       [](double x, double y) { return x - y; }},
                      {"mul_", [](Tensor& x, const Tensor& y) -> Tensor& { return mul_(x, y); },
                       [](double x, double y) { return x * y; }},
                      {"div_", [](Tensor& x, const Tensor& y) -> Tensor& { return div_(x, y); },
                       [](double x, double y) { return x / y; }}};
    for (const Op& op : ops) {
      a.copy_(test::make(a0, {4, 5}, t));
      const auto before = to_host(a);
      Tensor& r = op.f(a, b);
      EXPECT_EQ(&r, &a);
      std::vector<double> ref(20);
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 5; ++j) ref[i * 5 + j] = op.r(before[i * 5 + j], bv[j]);
      EXPECT_TRUE(close_to(a, {4, 5}, ref, default_tol(t))) << op.name << " " << dtype_name(t);
      // ...and the write went through the view into `base`.
      EXPECT_TRUE(close_to(base.t(), {4, 5}, ref, default_tol(t))) << op.name << " " << dtype_name(t);
    }
    // Scalar in-place forms.
    a.copy_(test::make(a0, {4, 5}, t));
    add_(a, Scalar(1.5));
    mul_(a, Scalar(-2));
    std::vector<double> ref(20);
    for (int i = 0; i < 20; ++i) ref[i] = (test::round_to(t, a0[i] + 1.5)) * -2;
    EXPECT_TRUE(close_to(a, {4, 5}, ref, default_tol(t))) << dtype_name(t);
    // The output cannot broadcast; dtypes must match.
    Tensor col = zeros({4, 1}, t);
    EXPECT_THROW(add_(col, zeros({4, 5}, t)), ShapeError);
    EXPECT_THROW(mul_(col, zeros({3}, t)), ShapeError);
    EXPECT_THROW(add_(a, zeros({5}, t == DType::Float64 ? DType::Float32 : DType::Float64)), DTypeError);
  }
  // Integer in-place, and the scalar must be integral.
  Tensor i = from_vector({1, 2, 3}, {3}, DType::Int32);
  add_(i, from_vector({10}, {1}, DType::Int32));
  add_(i, Scalar(5));
  mul_(i, Scalar(2));
  EXPECT_TRUE(equals(i, {3}, {32, 34, 36}));
  EXPECT_THROW(add_(i, Scalar(0.5)), DTypeError);
  EXPECT_THROW(div_(i, i), DTypeError);
  // Operands that alias the output (fully, and through a transposed view).
  Tensor m = from_vector({1, 2, 3, 4}, {2, 2}, DType::Float32);
  add_(m, m);
  EXPECT_TRUE(equals(m, {2, 2}, {2, 4, 6, 8}));
  add_(m, m.t());
  EXPECT_TRUE(equals(m, {2, 2}, {4, 10, 10, 16}));
}

TEST(Binary, Where) {
  std::mt19937 rng(6);
  for (DType t : test::all_dtypes()) {
    Tensor cond = test::random_tensor({3, 1, 5}, DType::Bool, 0, 1, rng);
    Tensor a = test::random_tensor({4, 1}, t, t == DType::UInt8 ? 0 : -50, 50, rng);
    Tensor b = test::random_tensor({}, t, t == DType::UInt8 ? 0 : -50, 50, rng);
    const auto cv = to_host(cond), av = to_host(a), bv = to_host(b);
    std::vector<double> ref;
    test::for_each_index({3, 4, 5}, [&](const std::vector<int64_t>& idx) {
      ref.push_back(cv[test::broadcast_flat({3, 1, 5}, idx)] ? av[test::broadcast_flat({4, 1}, idx)] : bv[0]);
    });
    Tensor w = where(cond, a, b);
    EXPECT_EQ(w.dtype(), t);
    EXPECT_TRUE(equals(w, {3, 4, 5}, ref)) << dtype_name(t);
    // Non-contiguous everything.
    Tensor c2 = test::random_tensor({8, 6}, DType::Bool, 0, 1, rng).t();
    Tensor a2 = test::random_tensor({6, 16}, t, 0, 100, rng).slice(1, 0, 16, 2);
    Tensor b2 = test::random_tensor({8, 6}, t, 0, 100, rng).t();
    const auto c2v = to_host(c2), a2v = to_host(a2), b2v = to_host(b2);
    std::vector<double> r2(48);
    for (int i = 0; i < 48; ++i) r2[i] = c2v[i] ? a2v[i] : b2v[i];
    EXPECT_TRUE(equals(where(c2, a2, b2), {6, 8}, r2)) << dtype_name(t);
  }
  EXPECT_THROW(where(ones({3}, DType::Int32), ones({3}), ones({3})), DTypeError);
  EXPECT_THROW(where(ones({3}, DType::Bool), ones({3}), ones({3}, DType::Float64)), DTypeError);
  EXPECT_THROW(where(ones({3}, DType::Bool), ones({4}), ones({3})), ShapeError);
}

TEST(Binary, Errors) {
  EXPECT_THROW(add(ones({3}), ones({4})), ShapeError);
  EXPECT_THROW(mul(ones({2, 3}), ones({3, 2})), ShapeError);
  EXPECT_THROW(eq(ones({2}), ones({3})), ShapeError);
  EXPECT_THROW(add(ones({3}), ones({3}, DType::Float64)), DTypeError);
  EXPECT_THROW(add(ones({3}, DType::Float16), ones({3}, DType::BFloat16)), DTypeError);
  EXPECT_THROW(lt(ones({3}, DType::Int32), ones({3}, DType::Int64)), DTypeError);
  EXPECT_THROW(add(ones({3}, DType::Int32), Scalar(0.5)), DTypeError);
  EXPECT_THROW(mul(ones({3}, DType::Int64), Scalar(1e-3)), DTypeError);
  EXPECT_THROW(ones({3}, DType::Int32) + Scalar(0.5), DTypeError);
  EXPECT_NO_THROW(add(ones({3}, DType::Int32), Scalar(2.0)));  // an integral float is fine
  EXPECT_THROW(div(ones({3}, DType::Int32), ones({3}, DType::Int32)), DTypeError);
  EXPECT_THROW(div(ones({3}, DType::Int64), Scalar(2)), DTypeError);
  EXPECT_THROW(pow(ones({3}, DType::Int32), Scalar(-1)), Error);  // negative integer power of an integer
  EXPECT_THROW(add(Tensor(), ones({1})), Error);
}

TEST(Binary, NaNPropagation) {
  for (DType t : test::floating_dtypes()) {
    Tensor a = from_vector({NAN, 1, NAN, -INFINITY, 2}, {5}, t);
    Tensor b = from_vector({1, NAN, NAN, NAN, 3}, {5}, t);
    EXPECT_TRUE(equals(maximum(a, b), {5}, {NAN, NAN, NAN, NAN, 3})) << dtype_name(t);
    EXPECT_TRUE(equals(minimum(a, b), {5}, {NAN, NAN, NAN, NAN, 2})) << dtype_name(t);
    EXPECT_TRUE(equals(maximum(a, Scalar(0)), {5}, {NAN, 1, NAN, 0, 2})) << dtype_name(t);
    EXPECT_TRUE(equals(minimum(a, Scalar(0)), {5}, {NAN, 0, NAN, -INFINITY, 0})) << dtype_name(t);
    EXPECT_TRUE(equals(add(a, b), {5}, {NAN, NAN, NAN, NAN, 5})) << dtype_name(t);
    EXPECT_TRUE(equals(eq(a, a), {5}, {0, 1, 0, 1, 1})) << dtype_name(t);
    EXPECT_TRUE(equals(ne(a, a), {5}, {1, 0, 1, 0, 0})) << dtype_name(t);
    EXPECT_TRUE(equals(lt(a, b), {5}, {0, 0, 0, 0, 1})) << dtype_name(t);
    // Large vectors go through the SIMD paths: NaN must survive there too.
    std::vector<double> big(1000, 1.0), other(1000, 2.0);
    big[517] = NAN;
    other[3] = NAN;
    const auto mx = to_host(maximum(from_vector(big, {1000}, t), from_vector(other, {1000}, t)));
    const auto mn = to_host(minimum(from_vector(other, {1000}, t), from_vector(big, {1000}, t)));
    for (int i = 0; i < 1000; ++i) {
      const bool nan = i == 517 || i == 3;
      EXPECT_EQ(std::isnan(mx[i]), nan) << dtype_name(t) << " maximum [" << i << "]";
      EXPECT_EQ(std::isnan(mn[i]), nan) << dtype_name(t) << " minimum [" << i << "]";
    }
  }
}

TEST(Binary, PowOnIntegers) {
  Tensor a = from_vector({-3, -2, 0, 2, 3, 5}, {6}, DType::Int64);
  Tensor b = from_vector({3, 2, 0, 10, 0, 3}, {6}, DType::Int64);
  EXPECT_TRUE(equals(pow(a, b), {6}, {-27, 4, 1, 1024, 1, 125}));
  EXPECT_TRUE(equals(pow(a, Scalar(2)), {6}, {9, 4, 0, 4, 9, 25}));
  EXPECT_TRUE(equals(rpow(from_vector({0, 1, 10}, {3}, DType::Int32), Scalar(3)), {3}, {1, 3, 59049}));
  // Exact beyond 2^53 where a float pow would round.
  Tensor big = full({1}, Scalar(int64_t{3}), DType::Int64);
  EXPECT_EQ(pow(big, Scalar(39)).item<int64_t>(), 4052555153018976267LL);
}

}  // namespace
}  // namespace iccrt
