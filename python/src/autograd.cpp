// Autograd in iccrt._C: Tensor's requires_grad / grad / backward / hooks, grad mode, the engine entry points,
// custom functions (_record_function, used by iccrt.autograd.Function) and autocast state.
#include <pybind11/functional.h>

#include "bindings.hpp"
#include "iccrt/autograd/autocast.hpp"
#include "iccrt/autograd/engine.hpp"
#include "iccrt/autograd/functions.hpp"
#include "iccrt/autograd/node.hpp"

namespace iccrt::python {
namespace {

using autograd::TensorList;
using nogil = py::call_guard<py::gil_scoped_release>;

// A registered hook; remove() unregisters it (torch.utils.hooks.RemovableHandle). It holds the tensor's autograd
// state weakly, so a handle kept around does not keep a graph (and its saved activations) alive.
struct HookHandle {
  std::weak_ptr<autograd::AutogradMeta> meta;
  int64_t id;
  void remove() {
    if (auto m = meta.lock()) autograd::remove_hook(*m, id);
  }
};

// A Python callable that C++ may drop on any thread, with or without the GIL (the engine frees nodes with the
// GIL released), so its last reference is released under the GIL.
std::shared_ptr<py::function> hold(py::function fn) {
  return std::shared_ptr<py::function>(new py::function(std::move(fn)), [](py::function* f) {
    py::gil_scoped_acquire gil;
    delete f;
  });
}

py::object optional_tensor(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }

TensorList tensors_from(const py::sequence& seq, const char* what) {
  TensorList out;
  for (const py::handle& h : seq) {
    if (h.is_none()) out.emplace_back();
    else if (py::isinstance<Tensor>(h)) out.push_back(h.cast<Tensor>());
    else throw py::type_error(std::string(what) + ": expected tensors or None, got " +
                              std::string(py::str(py::type::of(h).attr("__name__"))));
  }
  return out;
}

py::list to_list(const TensorList& ts) {
  py::list l;
  for (const Tensor& t : ts) l.append(optional_tensor(t));
  return l;
}

// Calls a Python backward(*grads) with the GIL held and converts its result to one gradient per input.
autograd::BackwardFn python_backward(py::function fn, std::string name, size_t num_inputs) {
  auto holder = hold(std::move(fn));
  return [holder, name, num_inputs](const TensorList& grads) {
    py::gil_scoped_acquire gil;
    py::tuple args(grads.size());
    for (size_t i = 0; i < grads.size(); ++i) args[i] = optional_tensor(grads[i]);
    py::object r = (*holder)(*args);
    if (!py::isinstance<py::tuple>(r) && !py::isinstance<py::list>(r)) r = py::make_tuple(r);
    TensorList out = tensors_from(r, (name + ".backward").c_str());
    if (out.size() != num_inputs)
      throw ValueError(name + ".backward returned " + std::to_string(out.size()) + " gradients but forward had " +
                       std::to_string(num_inputs) + " inputs");
    return out;
  };
}

}  // namespace

void init_autograd(py::module_& m, py::class_<Tensor>& cls) {
  py::class_<HookHandle>(m, "_HookHandle").def("remove", &HookHandle::remove);

  py::class_<autograd::Node, std::shared_ptr<autograd::Node>>(m, "_Node")
      .def("name", &autograd::Node::name)
      .def_property_readonly("next_functions",
                             [](const autograd::Node& n) {
                               py::list l;
                               for (const auto& e : n.next_edges)
                                 l.append(py::make_tuple(e.fn ? py::cast(e.fn) : py::none(), e.input_nr));
                               return py::tuple(l);
                             })
      .def("__repr__", [](const autograd::Node& n) { return "<" + n.name() + ">"; });

  cls.def_property(
         "requires_grad", &Tensor::requires_grad,
         [](Tensor& t, bool b) { t.set_requires_grad(b); })
      .def(
          "requires_grad_", [](Tensor& t, bool b) -> Tensor& { return t.set_requires_grad(b); },
          py::arg("requires_grad") = true, py::return_value_policy::reference_internal)
      .def_property(
          "grad", [](const Tensor& t) { return optional_tensor(t.grad()); },
          [](Tensor& t, const py::object& g) { t.set_grad(g.is_none() ? Tensor() : g.cast<Tensor>()); })
      .def_property_readonly("is_leaf", &Tensor::is_leaf)
      .def_property_readonly("grad_fn",
                             [](const Tensor& t) { return t.grad_fn() ? py::cast(t.grad_fn()) : py::none(); })
      .def_property_readonly("_version", &Tensor::version)
      // ZeRO-3: free / re-allocate the memory of the tensor's storage, keeping every view of it.
      .def("_release_storage", [](const Tensor& t) { t.storage()->release_memory(); })
      .def("_restore_storage", [](const Tensor& t) { t.storage()->restore_memory(); })
      .def_property_readonly("_storage_released", [](const Tensor& t) { return t.storage()->is_released(); })
      .def("detach", &Tensor::detach)
      .def(
          "backward",
          [](const Tensor& t, const py::object& gradient, const py::object& retain_graph) {
            const Tensor g = gradient.is_none() ? Tensor() : gradient.cast<Tensor>();
            const bool retain = !retain_graph.is_none() && retain_graph.cast<bool>();
            py::gil_scoped_release release;
            t.backward(g, retain);
          },
          py::arg("gradient") = py::none(), py::arg("retain_graph") = py::none())
      .def("retain_grad", &Tensor::retain_grad)
      .def_property_readonly("retains_grad",
                             [](const Tensor& t) { return t.autograd_meta() && t.autograd_meta()->retains_grad; })
      .def("register_hook",
           [](const Tensor& t, py::function fn) {
             auto holder = hold(std::move(fn));
             const int64_t id = t.register_hook([holder](const Tensor& g) {
               py::gil_scoped_acquire gil;
               py::object r = (*holder)(g);
               return r.is_none() ? Tensor() : r.cast<Tensor>();
             });
             return HookHandle{t.autograd_meta(), id};
           })
      .def("register_post_accumulate_grad_hook", [](const Tensor& t, py::function fn) {
        auto holder = hold(std::move(fn));
        const int64_t id = t.register_post_accumulate_grad_hook([holder](const Tensor& p) {
          py::gil_scoped_acquire gil;
          (*holder)(p);
        });
        return HookHandle{t.autograd_meta(), id};
      });

  m.def("is_grad_enabled", &autograd::GradMode::is_enabled);
  m.def("_set_grad_enabled", &autograd::GradMode::set_enabled, py::arg("enabled"));
  m.def(
      "_backward",
      [](const py::sequence& tensors, const py::sequence& grads, bool retain_graph) {
        TensorList ts = tensors_from(tensors, "backward"), gs = tensors_from(grads, "backward");
        py::gil_scoped_release release;
        autograd::backward(ts, gs, retain_graph);
      },
      py::arg("tensors"), py::arg("grad_tensors"), py::arg("retain_graph") = false);
  m.def(
      "_grad",
      [](const py::sequence& outputs, const py::sequence& inputs, const py::sequence& grads, bool retain_graph,
         bool allow_unused) {
        TensorList os = tensors_from(outputs, "grad"), is = tensors_from(inputs, "grad"),
                   gs = tensors_from(grads, "grad");
        TensorList r;
        {
          py::gil_scoped_release release;
          r = autograd::grad(os, is, gs, retain_graph, allow_unused);
        }
        return to_list(r);
      },
      py::arg("outputs"), py::arg("inputs"), py::arg("grad_outputs"), py::arg("retain_graph") = false,
      py::arg("allow_unused") = false);
  m.def(
      "_record_function",
      [](const std::string& name, const py::sequence& inputs, const py::sequence& outputs, py::function backward) {
        TensorList ins = tensors_from(inputs, name.c_str());
        TensorList outs;
        for (const py::handle& h : outputs) outs.push_back(h.cast<Tensor>().detach());
        return to_list(autograd::record(name, ins, std::move(outs), python_backward(std::move(backward), name,
                                                                                     ins.size())));
      },
      py::arg("name"), py::arg("inputs"), py::arg("outputs"), py::arg("backward"));

  m.def(
      "_queue_callback",
      [](py::function fn) {
        auto holder = hold(std::move(fn));
        autograd::queue_callback([holder] {
          py::gil_scoped_acquire gil;
          (*holder)();
        });
      },
      py::arg("callback"));

  m.def("_set_autocast", [](bool enabled, DType dtype) { autograd::set_autocast_state({enabled, dtype}); },
        py::arg("enabled"), py::arg("dtype"));
  m.def("_get_autocast", [] {
    const auto s = autograd::autocast_state();
    return py::make_tuple(s.enabled, dtype_object(s.dtype));
  });
}

}  // namespace iccrt::python
