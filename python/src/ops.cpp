// Math: iccrt.<op>(...) functions, the same ops as Tensor methods, and the Python operators.
// Every op releases the GIL while it runs.
#include "bindings.hpp"
#include "iccrt/autograd/functions.hpp"
#include "iccrt/ops/elementwise.hpp"
#include "iccrt/ops/matmul.hpp"
#include "iccrt/ops/reduce.hpp"

namespace iccrt::python {
namespace {

using nogil = py::call_guard<py::gil_scoped_release>;

template <class F>
void def_unary(py::module_& m, py::class_<Tensor>& cls, const char* name, F f) {
  m.def(name, f, py::arg("input"), nogil());
  cls.def(name, f, nogil());
}

// (tensor, tensor) first, then (tensor, scalar): pybind11 tries overloads in order.
template <class FT, class FS>
void def_binary(py::module_& m, py::class_<Tensor>& cls, const char* name, FT ft, FS fs) {
  m.def(name, ft, py::arg("input"), py::arg("other"), nogil());
  m.def(name, fs, py::arg("input"), py::arg("other"), nogil());
  cls.def(name, ft, py::arg("other"), nogil());
  cls.def(name, fs, py::arg("other"), nogil());
}

template <class FT, class FS>
void def_operator(py::class_<Tensor>& cls, const char* name, FT ft, FS fs) {
  cls.def(name, ft, py::is_operator(), nogil());
  cls.def(name, fs, py::is_operator(), nogil());
}

// `a op= b` for ops without an in-place scalar form in the library: compute, then write back into a.
template <class F>
py::object inplace_via_copy(py::object self, F f) {
  Tensor& a = self.cast<Tensor&>();
  {
    py::gil_scoped_release release;
    Tensor r = f(a);
    a.copy_(r);
  }
  return self;
}

int64_t correction_from(const py::object& correction, const py::object& unbiased) {
  if (!unbiased.is_none()) {
    if (!correction.is_none()) throw py::type_error("var: pass either correction or unbiased, not both");
    return unbiased.cast<bool>() ? 1 : 0;
  }
  return correction.is_none() ? 1 : correction.cast<int64_t>();
}

}  // namespace

#define ICCRT_UNARY(NAME) def_unary(m, cls, #NAME, [](const Tensor& x) { return iccrt::NAME(x); })
#define ICCRT_BINARY(NAME)                                                               \
  def_binary(                                                                            \
      m, cls, #NAME, [](const Tensor& a, const Tensor& b) { return iccrt::NAME(a, b); }, \
      [](const Tensor& a, Scalar b) { return iccrt::NAME(a, b); })
#define ICCRT_OPERATOR(DUNDER, NAME)                                                   \
  def_operator(                                                                        \
      cls, DUNDER, [](const Tensor& a, const Tensor& b) { return iccrt::NAME(a, b); }, \
      [](const Tensor& a, Scalar b) { return iccrt::NAME(a, b); })
#define ICCRT_REFLECTED(DUNDER, NAME) \
  cls.def(                            \
      DUNDER, [](const Tensor& a, Scalar b) { return iccrt::NAME(a, b); }, py::is_operator(), nogil())

void init_ops(py::module_& m, py::class_<Tensor>& cls) {
  // ---- elementwise ----
  ICCRT_UNARY(neg);
  ICCRT_UNARY(abs);
  ICCRT_UNARY(exp);
  ICCRT_UNARY(log);
  ICCRT_UNARY(sqrt);
  ICCRT_UNARY(rsqrt);
  ICCRT_UNARY(tanh);
  ICCRT_UNARY(sigmoid);
  ICCRT_UNARY(relu);
  ICCRT_UNARY(silu);
  auto gelu = [](const Tensor& x, const std::string& approximate) { return iccrt::gelu(x, approximate); };
  m.def("gelu", gelu, py::arg("input"), py::arg("approximate") = "none", nogil());
  cls.def("gelu", gelu, py::arg("approximate") = "none", nogil());

  ICCRT_BINARY(add);
  ICCRT_BINARY(sub);
  ICCRT_BINARY(mul);
  ICCRT_BINARY(div);
  ICCRT_BINARY(pow);
  ICCRT_BINARY(maximum);
  ICCRT_BINARY(minimum);
  ICCRT_BINARY(eq);
  ICCRT_BINARY(ne);
  ICCRT_BINARY(lt);
  ICCRT_BINARY(le);
  ICCRT_BINARY(gt);
  ICCRT_BINARY(ge);
  m.def(
      "_where", [](const Tensor& c, const Tensor& a, const Tensor& b) { return iccrt::where(c, a, b); },
      py::arg("condition"), py::arg("input"), py::arg("other"), nogil());

  // ---- operators (NotImplemented for other types, so Python raises TypeError or tries the reflection) ----
  cls.def(
      "__neg__", [](const Tensor& x) { return iccrt::neg(x); }, nogil());
  cls.def(
      "__abs__", [](const Tensor& x) { return iccrt::abs(x); }, nogil());
  ICCRT_OPERATOR("__add__", add);
  ICCRT_OPERATOR("__sub__", sub);
  ICCRT_OPERATOR("__mul__", mul);
  ICCRT_OPERATOR("__truediv__", div);
  ICCRT_OPERATOR("__pow__", pow);
  ICCRT_OPERATOR("__eq__", eq);
  ICCRT_OPERATOR("__ne__", ne);
  ICCRT_OPERATOR("__lt__", lt);
  ICCRT_OPERATOR("__le__", le);
  ICCRT_OPERATOR("__gt__", gt);
  ICCRT_OPERATOR("__ge__", ge);
  ICCRT_REFLECTED("__radd__", add);
  ICCRT_REFLECTED("__rmul__", mul);
  ICCRT_REFLECTED("__rsub__", rsub);
  ICCRT_REFLECTED("__rtruediv__", rdiv);
  ICCRT_REFLECTED("__rpow__", rpow);
  cls.def(
      "__matmul__", [](const Tensor& a, const Tensor& b) { return iccrt::matmul(a, b); }, py::is_operator(), nogil());
  // Defining __eq__ would make Tensor unhashable; like torch, hash by identity.
  cls.def("__hash__", [](py::handle self) { return reinterpret_cast<intptr_t>(self.ptr()); });

  cls.def(
      "__iadd__",
      [](py::object self, const Tensor& b) {
        iccrt::add_(self.cast<Tensor&>(), b);
        return self;
      },
      py::is_operator());
  cls.def(
      "__iadd__",
      [](py::object self, Scalar b) {
        iccrt::add_(self.cast<Tensor&>(), b);
        return self;
      },
      py::is_operator());
  cls.def(
      "__isub__",
      [](py::object self, const Tensor& b) {
        iccrt::sub_(self.cast<Tensor&>(), b);
        return self;
      },
      py::is_operator());
  cls.def(
      "__isub__",
      [](py::object self, Scalar b) {
        return inplace_via_copy(self, [&](const Tensor& a) { return iccrt::sub(a, b); });
      },
      py::is_operator());
  cls.def(
      "__imul__",
      [](py::object self, const Tensor& b) {
        iccrt::mul_(self.cast<Tensor&>(), b);
        return self;
      },
      py::is_operator());
  cls.def(
      "__imul__",
      [](py::object self, Scalar b) {
        iccrt::mul_(self.cast<Tensor&>(), b);
        return self;
      },
      py::is_operator());
  cls.def(
      "__itruediv__",
      [](py::object self, const Tensor& b) {
        iccrt::div_(self.cast<Tensor&>(), b);
        return self;
      },
      py::is_operator());
  cls.def(
      "__itruediv__",
      [](py::object self, Scalar b) {
        return inplace_via_copy(self, [&](const Tensor& a) { return iccrt::div(a, b); });
      },
      py::is_operator());
  // Named in-place forms (t.add_(x)).
  cls.def(
      "add_",
      [](py::object self, const Tensor& b) {
        iccrt::add_(self.cast<Tensor&>(), b);
        return self;
      },
      py::arg("other"));
  cls.def(
      "add_",
      [](py::object self, Scalar b) {
        iccrt::add_(self.cast<Tensor&>(), b);
        return self;
      },
      py::arg("other"));
  cls.def(
      "sub_",
      [](py::object self, const Tensor& b) {
        iccrt::sub_(self.cast<Tensor&>(), b);
        return self;
      },
      py::arg("other"));
  cls.def(
      "mul_",
      [](py::object self, const Tensor& b) {
        iccrt::mul_(self.cast<Tensor&>(), b);
        return self;
      },
      py::arg("other"));
  cls.def(
      "mul_",
      [](py::object self, Scalar b) {
        iccrt::mul_(self.cast<Tensor&>(), b);
        return self;
      },
      py::arg("other"));
  cls.def(
      "div_",
      [](py::object self, const Tensor& b) {
        iccrt::div_(self.cast<Tensor&>(), b);
        return self;
      },
      py::arg("other"));

  // ---- reductions ----
  // Arguments are converted with the GIL held; the reduction runs without it.
  auto sum = [](const Tensor& x, const py::object& dim, bool keepdim) {
    const std::vector<int64_t> dims = dims_from_object(dim);
    py::gil_scoped_release release;
    return iccrt::sum(x, dims, keepdim);
  };
  auto mean = [](const Tensor& x, const py::object& dim, bool keepdim) {
    const std::vector<int64_t> dims = dims_from_object(dim);
    py::gil_scoped_release release;
    return iccrt::mean(x, dims, keepdim);
  };
  auto var = [](const Tensor& x, const py::object& dim, bool keepdim, const py::object& correction,
                const py::object& unbiased) {
    const std::vector<int64_t> dims = dims_from_object(dim);
    const int64_t c = correction_from(correction, unbiased);
    py::gil_scoped_release release;
    return iccrt::var(x, dims, c, keepdim);
  };
  auto argmax = [](const Tensor& x, const py::object& dim, bool keepdim) {
    return dim.is_none() ? iccrt::argmax(x) : iccrt::argmax(x, dim.cast<int64_t>(), keepdim);
  };
  auto argmin = [](const Tensor& x, const py::object& dim, bool keepdim) {
    return dim.is_none() ? iccrt::argmin(x) : iccrt::argmin(x, dim.cast<int64_t>(), keepdim);
  };
  for (auto [name, f] : {std::pair{"sum", +sum}, std::pair{"mean", +mean}}) {
    m.def(name, f, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
    cls.def(name, f, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  }
  m.def("var", var, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false,
        py::arg("correction") = py::none(), py::kw_only(), py::arg("unbiased") = py::none());
  cls.def("var", var, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::arg("correction") = py::none(),
          py::kw_only(), py::arg("unbiased") = py::none());
  for (auto [name, f] : {std::pair{"argmax", +argmax}, std::pair{"argmin", +argmin}}) {
    m.def(name, f, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
    cls.def(name, f, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  }
  // max/min with their torch overloads (namedtuple results, two-tensor form) are assembled in Python.
  m.def(
      "_max", [](const Tensor& x) { return iccrt::max(x); }, nogil());
  m.def(
      "_min", [](const Tensor& x) { return iccrt::min(x); }, nogil());
  m.def(
      "_max_dim", [](const Tensor& x, int64_t d, bool k) { return iccrt::max(x, d, k); }, nogil());
  m.def(
      "_min_dim", [](const Tensor& x, int64_t d, bool k) { return iccrt::min(x, d, k); }, nogil());

  // ---- matrix products ----
  auto matmul = [](const Tensor& a, const Tensor& b) { return iccrt::matmul(a, b); };
  auto mm = [](const Tensor& a, const Tensor& b) { return iccrt::mm(a, b); };
  auto bmm = [](const Tensor& a, const Tensor& b) { return iccrt::bmm(a, b); };
  for (auto [name, f] : {std::pair{"matmul", +matmul}, std::pair{"mm", +mm}, std::pair{"bmm", +bmm}}) {
    m.def(name, f, py::arg("input"), py::arg("other"), nogil());
    cls.def(name, f, py::arg("other"), nogil());
  }
}

}  // namespace iccrt::python
