// Zero-copy NumPy interop: iccrt.from_numpy(a) and Tensor.numpy() share memory; each side keeps the other's
// memory alive (the tensor's storage holds a reference to the array; the array's base holds the tensor).
#include <pybind11/numpy.h>

#include "bindings.hpp"
#include "iccrt/core/error.hpp"

namespace iccrt::python {
namespace {

// NumPy dtype for an iccrt dtype; TypeError for bfloat16 (NumPy has none).
py::dtype numpy_dtype(DType t) {
  switch (t) {
    case DType::Float32:
      return py::dtype::of<float>();
    case DType::Float64:
      return py::dtype::of<double>();
    case DType::Float16:
      return py::dtype("float16");
    case DType::Int32:
      return py::dtype::of<int32_t>();
    case DType::Int64:
      return py::dtype::of<int64_t>();
    case DType::UInt8:
      return py::dtype::of<uint8_t>();
    case DType::Bool:
      return py::dtype::of<bool>();
    case DType::BFloat16:
      break;
  }
  throw py::type_error(
      "NumPy has no bfloat16 dtype; convert first with t.to(iccrt.float32).numpy() (exact: every bfloat16 value "
      "is a float32 value)");
}

DType dtype_from_numpy(const py::dtype& dt) {
  const char kind = dt.kind();
  const py::ssize_t size = dt.itemsize();
  const char order = dt.byteorder();  // '=' native, '|' not applicable, '<' / '>' explicit
  const bool native = order == '=' || order == '|' || order == (PY_BIG_ENDIAN ? '>' : '<');
  if (native && !dt.has_fields()) {
    if (kind == 'f' && size == 4) return DType::Float32;
    if (kind == 'f' && size == 8) return DType::Float64;
    if (kind == 'f' && size == 2) return DType::Float16;
    if (kind == 'i' && size == 4) return DType::Int32;
    if (kind == 'i' && size == 8) return DType::Int64;
    if (kind == 'u' && size == 1) return DType::UInt8;
    if (kind == 'b' && size == 1) return DType::Bool;
  }
  throw py::type_error("can't convert a NumPy array of dtype " + std::string(py::str(dt)) +
                       "; supported: float32, float64, float16, int32, int64, uint8, bool (native byte order)");
}

Tensor from_numpy(const py::object& obj) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error("from_numpy expects a numpy.ndarray, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  const DType dtype = dtype_from_numpy(a.dtype());
  const int64_t isz = itemsize(dtype);
  ICCRT_CHECK_VALUE(a.ndim() <= kMaxDims, "from_numpy: arrays of more than ", kMaxDims, " dims are not supported (got ",
                    a.ndim(), ")");
  if (!py::bool_(a.attr("flags").attr("aligned")))
    throw py::value_error("from_numpy: the array's data is not aligned for its dtype; pass a copy (a.copy())");
  if (!py::bool_(a.attr("flags").attr("writeable"))) {
    if (PyErr_WarnEx(PyExc_UserWarning,
                     "The given NumPy array is not writable; the tensor shares its memory and writing to the tensor "
                     "is undefined behaviour. Copy the array first (a.copy()) to avoid this.",
                     1) != 0)
      throw py::error_already_set();
  }
  Shape shape(a.ndim()), strides(a.ndim());
  int64_t extent = 1;  // elements spanned, from the first to one past the last
  bool empty = false;
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    shape[d] = a.shape(d);
    const int64_t sb = a.strides(d);
    if (sb < 0)
      throw py::value_error(
          "from_numpy: at least one stride of the array is negative, which tensors do not support; pass a copy "
          "(a.copy())");
    if (sb % isz != 0)
      throw py::value_error("from_numpy: array strides must be multiples of the element size; pass a copy (a.copy())");
    strides[d] = sb / isz;
    if (shape[d] == 0) empty = true;
    extent += (shape[d] - 1) * strides[d];
  }
  const size_t nbytes = empty ? 0 : static_cast<size_t>(extent * isz);
  PyObject* owner = obj.ptr();
  Py_INCREF(owner);
  // The deleter may run on a thread without the GIL (a tensor freed from C++), or after the interpreter is gone.
  auto release = [owner](void*) {
    if (!Py_IsInitialized()) return;
    PyGILState_STATE s = PyGILState_Ensure();
    Py_DECREF(owner);
    PyGILState_Release(s);
  };
  Storage storage = std::make_shared<StorageImpl>(const_cast<void*>(a.data()), nbytes, kCPU, std::move(release));
  return Tensor(std::move(storage), std::move(shape), std::move(strides), 0, dtype);
}

py::array to_numpy(const Tensor& t, bool force) {
  Tensor src = t;
  if (!t.device().is_cpu()) {
    if (!force)
      throw py::type_error("can't convert a " + t.device().str() +
                           " tensor to numpy; copy it to host memory first with t.cpu()");
    py::gil_scoped_release release;
    src = t.to(kCPU);
  }
  py::dtype dt = numpy_dtype(src.dtype());
  std::vector<py::ssize_t> shape(src.shape().begin(), src.shape().end());
  std::vector<py::ssize_t> strides(src.dim());
  for (int64_t d = 0; d < src.dim(); ++d) strides[d] = src.stride(d) * src.itemsize();
  // The array's base owns a copy of the tensor (a view: shares the storage, keeps it alive).
  auto* keep = new Tensor(src);
  py::capsule base(keep, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array(dt, shape, strides, src.data_ptr(), base);
}

}  // namespace

void init_numpy(py::module_& m, py::class_<Tensor>& cls) {
  m.def("from_numpy", &from_numpy, py::arg("ndarray"));
  cls.def("numpy", &to_numpy, py::arg("force") = false);
}

}  // namespace iccrt::python
