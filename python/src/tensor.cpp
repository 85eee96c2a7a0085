// iccrt.Tensor: attributes, views and copies. Operators and math are in ops.cpp; NumPy and DLPack in their
// files; indexing, printing and the torch-style argument forms of .to()/.size() in python/iccrt/_tensor.py.
#include <algorithm>

#include "bindings.hpp"

namespace iccrt::python {
namespace {

py::tuple to_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = py::int_(s[i]);
  return t;
}

}  // namespace

py::class_<Tensor> init_tensor(py::module_& m) {
  using nogil = py::call_guard<py::gil_scoped_release>;
  py::class_<Tensor> cls(m, "Tensor");
  cls.attr("__module__") = "iccrt";
  // Tensor(t): another handle to the same variable (Note [Tensor identity]); nn.Parameter subclasses build on it.
  cls.def(py::init([](const Tensor& t) { return t; }), py::arg("data"));

  // ---- attributes ----
  cls.def("_shape", [](const Tensor& t) { return to_tuple(t.shape()); })
      .def("_stride", [](const Tensor& t) { return to_tuple(t.strides()); })
      .def_property_readonly("dtype", [](const Tensor& t) { return dtype_object(t.dtype()); })
      .def_property_readonly("device", &Tensor::device)
      .def_property_readonly("ndim", &Tensor::dim)
      .def_property_readonly("is_cuda", [](const Tensor& t) { return t.device().is_cuda(); })
      .def_property_readonly("is_cpu", [](const Tensor& t) { return t.device().is_cpu(); })
      .def_property_readonly("itemsize", &Tensor::itemsize)
      .def_property_readonly("nbytes", &Tensor::nbytes)
      .def("dim", &Tensor::dim)
      .def("ndimension", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("nelement", &Tensor::numel)
      .def("element_size", &Tensor::itemsize)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()); })
      .def("storage_offset", &Tensor::offset)
      .def("_storage_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.storage()->data()); })
      .def("_str", &Tensor::str);

  // ---- views (share storage) ----
  cls.def("view", [](const Tensor& t, const py::args& shape) { return t.view(shape_from_args(shape)); })
      .def("reshape", [](const Tensor& t, const py::args& shape) { return t.reshape(shape_from_args(shape)); })
      .def("permute", [](const Tensor& t, const py::args& dims) { return t.permute(shape_from_args(dims)); })
      .def("expand", [](const Tensor& t, const py::args& shape) { return t.expand(shape_from_args(shape)); })
      .def(
          "view_as", [](const Tensor& t, const Tensor& o) { return t.view(o.shape()); }, py::arg("other"))
      .def(
          "reshape_as", [](const Tensor& t, const Tensor& o) { return t.reshape(o.shape()); }, py::arg("other"))
      .def(
          "expand_as", [](const Tensor& t, const Tensor& o) { return t.expand(o.shape()); }, py::arg("other"))
      .def("transpose", &Tensor::transpose, py::arg("dim0"), py::arg("dim1"))
      .def("swapaxes", &Tensor::transpose, py::arg("axis0"), py::arg("axis1"))
      .def("t", &Tensor::t)
      .def("narrow", &Tensor::narrow, py::arg("dim"), py::arg("start"), py::arg("length"))
      .def("select", &Tensor::select, py::arg("dim"), py::arg("index"))
      .def("_slice", &Tensor::slice, py::arg("dim"), py::arg("start"), py::arg("end"), py::arg("step"))
      .def(
          "squeeze",
          [](const Tensor& t, const py::object& dim) {
            if (dim.is_none()) return t.squeeze();
            const std::vector<int64_t> dims = dims_from_object(dim);
            if (dims.size() == 1) return t.squeeze(dims[0]);
            // Several dims: squeeze from the highest so the lower indices stay valid.
            std::vector<int64_t> sorted;
            for (int64_t d : dims) sorted.push_back(wrap_dim(d, t.dim()));
            std::sort(sorted.rbegin(), sorted.rend());
            Tensor r = t;
            for (int64_t d : sorted) r = r.squeeze(d);
            return r;
          },
          py::arg("dim") = py::none())
      .def("unsqueeze", &Tensor::unsqueeze, py::arg("dim"))
      .def(
          "as_strided",
          [](const Tensor& t, const Shape& size, const Shape& stride, const py::object& offset) {
            return t.as_strided(size, stride, offset.is_none() ? t.offset() : offset.cast<int64_t>());
          },
          py::arg("size"), py::arg("stride"), py::arg("storage_offset") = py::none())
      .def("_alias", [](const Tensor& t) { return t; });

  // ---- copies ----
  cls.def("contiguous", &Tensor::contiguous, nogil())
      .def("clone", &Tensor::clone, nogil())
      .def("_to", py::overload_cast<Device, DType>(&Tensor::to, py::const_), py::arg("device"), py::arg("dtype"),
           nogil())
      .def(
          "copy_",
          [](py::object self, const Tensor& src) {
            Tensor& t = self.cast<Tensor&>();
            {
              py::gil_scoped_release release;
              t.copy_(src);
            }
            return self;
          },
          py::arg("src"))
      .def(
          "fill_",
          [](py::object self, Scalar v) {
            self.cast<Tensor&>().fill_(v);
            return self;
          },
          py::arg("value"))
      .def(
          "fill_",
          [](py::object self, const Tensor& v) {
            ICCRT_CHECK_VALUE(v.dim() == 0, "fill_ takes a 0-dim tensor as value, got one with ", v.dim(), " dims");
            self.cast<Tensor&>().copy_(v);
            return self;
          },
          py::arg("value"))
      .def("zero_", [](py::object self) {
        self.cast<Tensor&>().zero_();
        return self;
      });

  // ---- elements ----
  cls.def("item", [](const Tensor& t) { return t.item(); });
  return cls;
}

}  // namespace iccrt::python
