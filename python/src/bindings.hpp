#pragma once
// Shared pieces of the iccrt._C bindings: the Scalar caster, argument conversions and the per-file init hooks.
// The bindings convert and forward; behaviour lives in the C++ library or in python/iccrt/.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "iccrt/core/device.hpp"
#include "iccrt/core/dtype.hpp"
#include "iccrt/core/scalar.hpp"
#include "iccrt/core/tensor.hpp"

namespace py = pybind11;

// Python bool / int / float (and NumPy scalars of those kinds) <-> iccrt::Scalar. Tensors never convert.
namespace pybind11::detail {
template <>
struct type_caster<iccrt::Scalar> {
  PYBIND11_TYPE_CASTER(iccrt::Scalar, const_name("bool | int | float"));

  bool load(handle src, bool /*convert*/) {
    PyObject* o = src.ptr();
    if (PyBool_Check(o)) {
      value = iccrt::Scalar(o == Py_True);
      return true;
    }
    if (PyLong_Check(o)) {
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
      if (overflow != 0 || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return false;  // beyond int64: not representable in any iccrt dtype
      }
      value = iccrt::Scalar(static_cast<int64_t>(v));
      return true;
    }
    if (PyFloat_Check(o)) {
      value = iccrt::Scalar(PyFloat_AsDouble(o));
      return true;
    }
    // NumPy scalars (np.float32(1), np.int64(2), np.bool_(True)) and one-element arrays: through .item().
    if (std::strncmp(Py_TYPE(o)->tp_name, "numpy.", 6) == 0 && PyObject_HasAttrString(o, "item")) {
      PyObject* item = PyObject_CallMethod(o, "item", nullptr);
      if (item == nullptr) {
        PyErr_Clear();
        return false;
      }
      object owned = reinterpret_steal<object>(item);
      if (!PyBool_Check(item) && !PyLong_Check(item) && !PyFloat_Check(item)) return false;
      return load(owned, false);
    }
    return false;
  }

  static handle cast(const iccrt::Scalar& s, return_value_policy, handle) {
    switch (s.kind) {
      case iccrt::Scalar::Kind::Bool:
        return PyBool_FromLong(s.i != 0);
      case iccrt::Scalar::Kind::Int:
        return PyLong_FromLongLong(s.i);
      case iccrt::Scalar::Kind::Float:
        return PyFloat_FromDouble(s.d);
    }
    return nullptr;
  }
};
}  // namespace pybind11::detail

namespace iccrt::python {

// The unique Python object for a dtype (iccrt.float32 ...), so that `t.dtype is iccrt.float32` holds.
py::object dtype_object(DType t);

// A shape from `view(2, 3)`, `view((2, 3))` or `view([2, 3])`; TypeError on anything but integers.
Shape shape_from_args(const py::args& args);
// Reduction dims from None (all), an int, or a sequence of ints.
std::vector<int64_t> dims_from_object(const py::object& dim);

void init_errors(py::module_& m);
void init_dtype_device(py::module_& m);
py::class_<Tensor> init_tensor(py::module_& m);
void init_ops(py::module_& m, py::class_<Tensor>& cls);
void init_factories(py::module_& m);
void init_numpy(py::module_& m, py::class_<Tensor>& cls);
void init_dlpack(py::module_& m, py::class_<Tensor>& cls);
void init_distributed(py::module_& m);
void init_autograd(py::module_& m, py::class_<Tensor>& cls);
void init_nn(py::module_& m);
void init_parallel(py::module_& m);

}  // namespace iccrt::python
