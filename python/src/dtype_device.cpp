// iccrt.dtype, iccrt.device and the iccrt.cuda queries (device count, caching-allocator statistics).
#include <pybind11/operators.h>

#include <array>
#include <string>

#include "bindings.hpp"
#include "iccrt/core/caching_allocator.hpp"
#include "iccrt/core/config.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/ops/matmul.hpp"

namespace iccrt::python {
namespace {

std::array<PyObject*, kNumDTypes> g_dtypes{};  // strong references, kept for the life of the process

py::dict allocator_stats_dict(const AllocatorStats& s) {
  py::dict d;
  d["allocated_bytes"] = s.allocated_bytes;
  d["reserved_bytes"] = s.reserved_bytes;
  d["peak_allocated_bytes"] = s.peak_allocated_bytes;
  d["peak_reserved_bytes"] = s.peak_reserved_bytes;
  d["num_device_allocs"] = s.num_device_allocs;
  d["num_device_frees"] = s.num_device_frees;
  d["num_cache_hits"] = s.num_cache_hits;
  d["num_ooms"] = s.num_ooms;
  return d;
}

}  // namespace

py::object dtype_object(DType t) { return py::reinterpret_borrow<py::object>(g_dtypes[static_cast<int>(t)]); }

void init_dtype_device(py::module_& m) {
  // ---- dtype: eight singletons, exposed as iccrt.float32 ... (aliases are set in python/iccrt/__init__.py) ----
  py::class_<DType> dtype(m, "dtype");
  dtype.def_property_readonly("itemsize", [](DType t) { return itemsize(t); })
      .def_property_readonly("is_floating_point", [](DType t) { return is_floating(t); })
      .def_property_readonly("is_signed", [](DType t) { return t != DType::UInt8 && t != DType::Bool; })
      .def_property_readonly("name", [](DType t) { return std::string(dtype_name(t)); })
      .def("__repr__", [](DType t) { return std::string("iccrt.") + dtype_name(t); })
      .def(
          "__eq__", [](DType a, DType b) { return a == b; }, py::is_operator())
      .def("__hash__", [](DType t) { return static_cast<int>(t); })
      // Pickles as a reference to the module attribute (iccrt.float32), which keeps the singleton.
      .def("__reduce__", [](DType t) { return std::string(dtype_name(t)); });
  dtype.attr("__module__") = "iccrt";
  for (int i = 0; i < kNumDTypes; ++i) {
    const DType t = static_cast<DType>(i);
    g_dtypes[i] = py::cast(t).release().ptr();
    m.attr(dtype_name(t)) = dtype_object(t);
  }

  // ---- device ----
  py::class_<Device> device(m, "device");
  device.def(py::init<const std::string&>(), py::arg("type"))
      .def(py::init([](const std::string& type, int index) {
             Device d(type);
             if (d.is_cuda()) {
               ICCRT_CHECK_VALUE(index >= 0, "device index must be >= 0, got ", index);
               d.index = index;
             } else {
               ICCRT_CHECK_VALUE(index == 0, "the cpu device has index 0, got ", index);
             }
             return d;
           }),
           py::arg("type"), py::arg("index"))
      .def(py::init([](const Device& d) { return d; }))
      .def_property_readonly("type", [](const Device& d) { return d.is_cpu() ? "cpu" : "cuda"; })
      .def_property_readonly("index",
                             [](const Device& d) -> py::object {
                               return d.is_cpu() ? py::object(py::none()) : py::object(py::int_(d.index));
                             })
      .def("__str__", &Device::str)
      .def("__repr__",
           [](const Device& d) {
             return d.is_cpu() ? std::string("device(type='cpu')")
                               : "device(type='cuda', index=" + std::to_string(d.index) + ")";
           })
      .def(
          "__eq__", [](const Device& a, const Device& b) { return a == b; }, py::is_operator())
      .def("__hash__", [](const Device& d) { return static_cast<int>(d.type) * 1024 + d.index; })
      .def("__reduce__", [](const Device& d) {
        return py::make_tuple(py::module_::import("iccrt").attr("device"), py::make_tuple(d.str()));
      });
  device.attr("__module__") = "iccrt";
  py::implicitly_convertible<py::str, Device>();

  // ---- CUDA queries ----
  m.def("_cuda_compiled", &cuda_compiled);
  m.def("_cuda_device_count", &cuda_device_count);
  m.def("_cuda_available", &cuda_available);
  m.def("_cuda_memory_stats", [](int index) { return allocator_stats_dict(cuda_caching_allocator(index)->stats()); });
  m.def("_cuda_empty_cache", [](int index) { cuda_caching_allocator(index)->empty_cache(); });
  m.def("_cuda_reset_peak_memory_stats", [](int index) { cuda_caching_allocator(index)->reset_peak_stats(); });
  m.def("_cuda_synchronize", &cuda_synchronize, py::arg("index") = 0);
  m.def("_build_config", &build_config);
  m.def("_version", [] { return std::string(version()); });
  m.def("_set_allow_tf32", &set_allow_tf32);
  m.def("_allow_tf32", &allow_tf32);
}

}  // namespace iccrt::python
