// Tensor factories and random numbers. Python-side defaults (dtype inference, size varargs) are in
// python/iccrt/_factories.py; these take everything explicitly.
#include "bindings.hpp"
#include "iccrt/core/generator.hpp"

namespace iccrt::python {

void init_factories(py::module_& m) {
  using nogil = py::call_guard<py::gil_scoped_release>;
  m.def(
      "_empty",
      [](const Shape& s, DType t, Device d) {
        return empty(s, {t, d});
      },
      nogil());
  m.def(
      "_zeros",
      [](const Shape& s, DType t, Device d) {
        return zeros(s, {t, d});
      },
      nogil());
  m.def(
      "_ones",
      [](const Shape& s, DType t, Device d) {
        return ones(s, {t, d});
      },
      nogil());
  m.def(
      "_full",
      [](const Shape& s, Scalar v, DType t, Device d) {
        return full(s, v, {t, d});
      },
      nogil());
  m.def(
      "_arange",
      [](Scalar start, Scalar end, Scalar step, DType t, Device d) {
        return arange(start, end, step, {t, d});
      },
      nogil());

  py::class_<Generator> gen(m, "Generator");
  gen.attr("__module__") = "iccrt";
  gen.def(py::init<uint64_t>(), py::arg("seed") = 0)
      .def(
          "manual_seed",
          [](py::object self, uint64_t seed) {
            self.cast<Generator&>().manual_seed(seed);
            return self;
          },
          py::arg("seed"))
      .def("initial_seed", &Generator::seed)
      .def_property_readonly("seed", &Generator::seed)
      .def_property("offset", &Generator::offset, &Generator::set_offset)
      .def("__repr__", [](const Generator& g) {
        return "iccrt.Generator(seed=" + std::to_string(g.seed()) + ", offset=" + std::to_string(g.offset()) + ")";
      });
  m.def("default_generator", &default_generator, py::return_value_policy::reference);
  m.def(
      "manual_seed",
      [](uint64_t seed) -> Generator& {
        manual_seed(seed);
        return default_generator();
      },
      py::arg("seed"), py::return_value_policy::reference);

  // None for `generator` is the default generator.
  m.def(
      "_rand",
      [](const Shape& s, DType t, Device d, Generator* g) {
        return rand(s, {t, d}, g);
      },
      nogil());
  m.def(
      "_randn",
      [](const Shape& s, DType t, Device d, Generator* g) {
        return randn(s, {t, d}, g);
      },
      nogil());
  m.def("_uniform_", [](py::object self, double low, double high, Generator* g) {
    uniform_(self.cast<Tensor&>(), low, high, g);
    return self;
  });
  m.def("_normal_", [](py::object self, double mean, double std, Generator* g) {
    normal_(self.cast<Tensor&>(), mean, std, g);
    return self;
  });
}

}  // namespace iccrt::python
