// C++ exceptions -> Python exceptions, one to one (the table is in include/iccrt/core/error.hpp).
#include "bindings.hpp"
#include "iccrt/core/error.hpp"

namespace iccrt::python {

void init_errors(py::module_& m) {
  // Most derived first: ShapeError is a ValueError is an Error.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ShapeError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const DTypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const NotImplemented& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const DeviceError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const InternalError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });

  // For the tests: raises the C++ exception named `kind`, so each translation above is checked.
  m.def("_throw", [](const std::string& kind, const std::string& msg) {
    if (kind == "Error") throw Error(msg);
    if (kind == "ValueError") throw ValueError(msg);
    if (kind == "ShapeError") throw ShapeError(msg);
    if (kind == "DTypeError") throw DTypeError(msg);
    if (kind == "DeviceError") throw DeviceError(msg);
    if (kind == "IndexError") throw IndexError(msg);
    if (kind == "NotImplemented") throw NotImplemented(msg);
    if (kind == "InternalError") detail::throw_internal(__FILE__, __LINE__, "false", msg);
    throw std::invalid_argument("unknown kind " + kind);
  });
}

std::vector<int64_t> dims_from_object(const py::object& dim) {
  if (dim.is_none()) return {};
  auto as_index = [](py::handle h) -> int64_t {
    if (PyBool_Check(h.ptr()) || !PyIndex_Check(h.ptr()))
      throw py::type_error("dim must be None, an int or a tuple of ints, got " +
                           std::string(py::str(py::type::of(h).attr("__name__"))));
    return h.cast<int64_t>();
  };
  if (PyTuple_Check(dim.ptr()) || PyList_Check(dim.ptr())) {
    std::vector<int64_t> dims;
    for (py::handle h : dim) dims.push_back(as_index(h));
    return dims;
  }
  return {as_index(dim)};
}

Shape shape_from_args(const py::args& args) {
  auto as_size = [](py::handle h) -> int64_t {
    if (PyBool_Check(h.ptr()) || !PyIndex_Check(h.ptr()))
      throw py::type_error("sizes must be ints, got " + std::string(py::str(py::type::of(h).attr("__name__"))));
    return h.cast<int64_t>();
  };
  Shape shape;
  if (args.size() == 1 && (PyTuple_Check(args[0].ptr()) || PyList_Check(args[0].ptr()))) {
    for (py::handle h : args[0]) shape.push_back(as_size(h));
    return shape;
  }
  for (py::handle h : args) shape.push_back(as_size(h));
  return shape;
}

}  // namespace iccrt::python
