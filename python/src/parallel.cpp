// iccrt._C._parallel: the data-parallel Reducer (include/iccrt/parallel/reducer.hpp) for
// python/iccrt/parallel/ddp.py. Conversion only; torch's DistributedDataParallel signature lives in Python.
//
// GIL: the constructor and broadcast / check run collectives and the destructor joins the reducer's watcher
// thread, so they run without the GIL (Note [GIL and the group worker] in distributed.cpp). The grad-ready hooks
// and the end-of-backward reduction are C++ only and run on the backward thread, which Tensor.backward() runs
// without the GIL.
#include <memory>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "iccrt/parallel/reducer.hpp"

namespace iccrt::python {

namespace {

using parallel::Reducer;
using nogil = py::call_guard<py::gil_scoped_release>;

std::shared_ptr<Reducer> python_owned(Reducer* raw) {
  return std::shared_ptr<Reducer>(raw, [](Reducer* r) {
    if (Py_IsInitialized() && PyGILState_Check()) {
      py::gil_scoped_release release;
      delete r;
    } else {
      delete r;
    }
  });
}

py::dict stats_dict(const parallel::StepStats& s) {
  py::list buckets;
  for (const parallel::BucketStats& b : s.buckets) {
    py::dict d;
    d["num_params"] = b.num_params;
    d["bytes"] = b.bytes;
    d["wire_bytes"] = b.wire_bytes;
    d["launch_s"] = b.launch_s;
    d["done_s"] = b.done_s;
    d["launched_before_backward_end"] = b.launched_before_backward_end;
    buckets.append(d);
  }
  py::dict d;
  d["step"] = s.step;
  d["world_size"] = s.world_size;
  d["buckets"] = buckets;
  d["num_buckets"] = s.buckets.size();
  d["first_grad_after_forward_s"] = s.first_grad_after_forward_s;
  d["backward_end_s"] = s.backward_end_s;
  d["wait_end_s"] = s.wait_end_s;
  d["launched_before_backward_end"] = s.launched_before_backward_end;
  d["allreduce_s"] = s.allreduce_s;
  d["hidden_s"] = s.hidden_s;
  d["hidden_fraction"] = s.hidden_fraction;
  d["exposed_wait_s"] = s.exposed_wait_s;
  return d;
}

}  // namespace

void init_parallel(py::module_& m) {
  py::module_ p = m.def_submodule("_parallel", "Data-parallel gradient reduction (C++ iccrt::parallel).");

  py::class_<Reducer, std::shared_ptr<Reducer>>(p, "Reducer",
                                                "Bucketed gradient all-reduce overlapped with backward (C++ "
                                                "parallel::Reducer); used by iccrt.parallel.DistributedDataParallel.")
      .def(py::init([](std::vector<Tensor> params, std::shared_ptr<comm::ProcessGroup> pg,
                       std::vector<std::string> names, int64_t bucket_cap_bytes, int64_t first_bucket_bytes,
                       bool find_unused_parameters, bool gradient_as_bucket_view, bool static_graph,
                       const std::string& comm_hook) {
             parallel::ReducerOptions o;
             o.bucket_cap_bytes = bucket_cap_bytes;
             o.first_bucket_bytes = first_bucket_bytes;
             o.find_unused_parameters = find_unused_parameters;
             o.gradient_as_bucket_view = gradient_as_bucket_view;
             o.static_graph = static_graph;
             o.comm_hook = parallel::parse_comm_hook(comm_hook);
             return python_owned(new Reducer(std::move(params), std::move(pg), o, std::move(names)));
           }),
           py::arg("params"), py::arg("process_group"), py::arg("names"), py::arg("bucket_cap_bytes"),
           py::arg("first_bucket_bytes"), py::arg("find_unused_parameters") = false,
           py::arg("gradient_as_bucket_view") = false, py::arg("static_graph") = false,
           py::arg("comm_hook") = "allreduce", nogil())
      .def("prepare_for_backward", &Reducer::prepare_for_backward, py::arg("outputs"), nogil())
      .def_property("require_backward_grad_sync", &Reducer::require_backward_grad_sync,
                    &Reducer::set_require_backward_grad_sync)
      // These wait for a backward pass finishing on another thread: without the GIL, which that pass may need to
      // free a NumPy-backed tensor.
      .def_property(
          "comm_hook",
          [](const Reducer& r) {
            py::gil_scoped_release release;
            return std::string(parallel::to_string(r.comm_hook()));
          },
          [](Reducer& r, const std::string& name) {
            const parallel::CommHook hook = parallel::parse_comm_hook(name);
            py::gil_scoped_release release;
            r.set_comm_hook(hook);
          })
      .def("last_step_stats", [](const Reducer& r) { return stats_dict(r.last_step_stats()); })
      .def_property_readonly("num_buckets", &Reducer::num_buckets)
      .def("bucket_params", &Reducer::bucket_params, py::arg("bucket"))
      .def("bucket_buffer", &Reducer::bucket_buffer, py::arg("bucket"))
      .def("bucket_view", &Reducer::bucket_view, py::arg("index"));

  p.def("broadcast_coalesced", &parallel::broadcast_coalesced, py::arg("process_group"), py::arg("tensors"),
        py::arg("root"), nogil());
  p.def("check_same_across_ranks", &parallel::check_same_across_ranks, py::arg("process_group"), py::arg("tensors"),
        py::arg("names"), py::arg("what"), nogil());
}

}  // namespace iccrt::python
