// iccrt._C._distributed: the collective layer (include/iccrt/comm/) for python/iccrt/distributed.py.
// Thin: argument conversion only; PyTorch-style defaults, group bookkeeping and rank translation live in Python.
//
// Note [GIL and the group worker]: every op runs on its group's worker thread, which never needs the GIL except
// to free a tensor that shares memory with a NumPy array (the deleter takes the GIL). So anything that blocks
// on the worker or on peers (Work.wait, op submission, group creation and split, shutdown, store get / wait)
// releases the GIL, and the last reference to a group is dropped without the GIL (see `python_owned`):
// otherwise ~ProcessGroup would join the worker while the worker waits for the GIL.
#include <pybind11/detail/exception_translation.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "iccrt/comm/comm.hpp"

// A timeout argument: seconds as an int or float, or a datetime.timedelta (like torch.distributed).
namespace iccrt::python {
struct TimeoutSeconds {
  double value = 0;
};
}  // namespace iccrt::python

namespace pybind11::detail {
template <>
struct type_caster<iccrt::python::TimeoutSeconds> {
  PYBIND11_TYPE_CASTER(iccrt::python::TimeoutSeconds, const_name("float | datetime.timedelta"));

  bool load(handle src, bool /*convert*/) {
    if (!src || PyBool_Check(src.ptr())) return false;
    object seconds;
    if (PyFloat_Check(src.ptr()) || PyLong_Check(src.ptr())) {
      seconds = reinterpret_borrow<object>(src);
    } else if (hasattr(src, "total_seconds")) {
      seconds = src.attr("total_seconds")();
    } else {
      return false;
    }
    value.value = PyFloat_AsDouble(seconds.ptr());
    if (value.value == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      return false;
    }
    return true;
  }

  static handle cast(const iccrt::python::TimeoutSeconds& s, return_value_policy, handle) {
    return PyFloat_FromDouble(s.value);
  }
};
}  // namespace pybind11::detail

namespace iccrt::python {

namespace {

using comm::ProcessGroup;
using comm::Store;
using comm::Work;
using nogil = py::call_guard<py::gil_scoped_release>;

// Exception classes, created once and kept for the life of the process (never freed: translators may run late).
PyObject* g_dist_error = nullptr;
PyObject* g_dist_timeout = nullptr;

std::chrono::milliseconds to_ms(TimeoutSeconds t, const char* what) {
  // May run without the GIL: a C++ ValueError, translated to Python's ValueError later.
  ICCRT_CHECK_VALUE(t.value > 0 && t.value < 1e9, what, " must be a positive number of seconds, got ", t.value);
  return std::chrono::milliseconds(std::max<int64_t>(1, static_cast<int64_t>(t.value * 1000.0 + 0.5)));
}

comm::ProcessGroupOptions make_options(const std::string& name, std::optional<TimeoutSeconds> timeout_s,
                                       std::optional<bool> debug, const std::string& host_id,
                                       const std::string& transport) {
  comm::ProcessGroupOptions o;
  o.name = name;
  if (timeout_s) o.timeout = to_ms(*timeout_s, "timeout");
  if (debug) o.debug = *debug;
  o.host_id = host_id;
  o.transport = transport;
  return o;
}

// blocking: the Python call waits at once (async_op=False), so the op may run on the calling thread.
comm::CollectiveOptions collective(const std::string& algorithm, bool blocking) {
  comm::CollectiveOptions o;
  o.algorithm = comm::parse_algorithm(algorithm);
  o.blocking = blocking;
  return o;
}

// The shared_ptr handed to Python: dropping the last reference releases the GIL while ~ProcessGroup joins the
// worker (Note [GIL and the group worker]).
std::shared_ptr<ProcessGroup> python_owned(std::shared_ptr<ProcessGroup> pg) {
  if (!pg) return nullptr;
  ProcessGroup* raw = pg.get();
  return std::shared_ptr<ProcessGroup>(raw, [keep = std::move(pg)](ProcessGroup*) mutable {
    if (Py_IsInitialized() && PyGILState_Check()) {
      py::gil_scoped_release release;
      keep.reset();
    } else {
      keep.reset();
    }
  });
}

// The Python exception object a failed Work holds (DistError, DistTimeoutError, ValueError, ...), or None.
py::object exception_object(const std::exception_ptr& p) {
  if (!p) return py::none();
  try {
    std::rethrow_exception(p);
  } catch (...) {
    py::detail::try_translate_exceptions();
  }
  py::error_already_set e;  // takes the error that the translators set
  return e.value();
}

py::bytes as_bytes(const std::string& s) { return py::bytes(s); }

// str and bytes values are stored as bytes (like torch.distributed.Store).
std::string value_bytes(const py::object& v) {
  if (py::isinstance<py::bytes>(v)) return v.cast<std::string>();
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  throw py::type_error("store values must be str or bytes, got " +
                       std::string(py::str(py::type::of(v).attr("__name__"))));
}

void init_errors_and_enums(py::module_& d) {
  g_dist_error = PyErr_NewExceptionWithDoc(
      "iccrt.distributed.DistError",
      "A collective failed: a peer died or left, ranks disagreed (ICCRT_DEBUG=1), or a transport reported an "
      "error. The message names the op, the group and the ranks involved.",
      PyExc_RuntimeError, nullptr);
  if (!g_dist_error) throw py::error_already_set();
  py::tuple bases = py::make_tuple(py::handle(g_dist_error), py::handle(PyExc_TimeoutError));
  g_dist_timeout = PyErr_NewExceptionWithDoc(
      "iccrt.distributed.DistTimeoutError",
      "A blocking wait ran past the group's timeout (ICCRT_TIMEOUT or the timeout= given at creation). The message "
      "names the op, the group, its sequence number and the ranks that did not arrive.",
      bases.ptr(), nullptr);
  if (!g_dist_timeout) throw py::error_already_set();
  d.attr("DistError") = py::handle(g_dist_error);
  d.attr("DistTimeoutError") = py::handle(g_dist_timeout);

  // Registered after init_errors, so tried before it (pybind11 tries translators newest first); everything that
  // is not a comm error falls through to the existing ValueError / TypeError / RuntimeError mapping.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const comm::CommTimeout& e) {
      PyErr_SetString(g_dist_timeout, e.what());
    } catch (const comm::CommError& e) {
      PyErr_SetString(g_dist_error, e.what());
    }
  });

  py::enum_<comm::ReduceOp>(d, "ReduceOp", "Reduction of all_reduce / reduce / reduce_scatter (torch names).")
      .value("SUM", comm::ReduceOp::Sum)
      .value("PRODUCT", comm::ReduceOp::Prod)
      .value("MIN", comm::ReduceOp::Min)
      .value("MAX", comm::ReduceOp::Max)
      .value("AVG", comm::ReduceOp::Avg);

  d.def("_parse_algorithm",
        [](const std::string& s) { return std::string(comm::to_string(comm::parse_algorithm(s))); });
  d.def("_default_timeout", [] { return std::chrono::duration<double>(comm::default_timeout()).count(); });
  d.def("_debug_checks_enabled", &comm::debug_checks_enabled);
}

void init_stores(py::module_& d) {
  py::class_<Store, std::shared_ptr<Store>>(d, "Store", "Key-value rendezvous store (abstract): TCPStore or HashStore.")
      .def(
          "set",
          [](Store& s, const std::string& key, const py::object& v) {
            std::string value = value_bytes(v);
            py::gil_scoped_release release;
            s.set(key, value);
          },
          py::arg("key"), py::arg("value"))
      .def(
          "get",
          [](Store& s, const std::string& key) {
            std::string v;
            {
              py::gil_scoped_release release;
              v = s.get(key);
            }
            return as_bytes(v);
          },
          py::arg("key"))
      .def("add", &Store::add, py::arg("key"), py::arg("amount"), nogil())
      .def("check", &Store::check, py::arg("keys"), nogil())
      .def("wait", &Store::wait, py::arg("keys"), nogil())
      .def(
          "delete_key",
          [](Store& s, const std::string& key) {
            s.erase(key);
            return true;
          },
          py::arg("key"), nogil())
      .def(
          "set_timeout", [](Store& s, TimeoutSeconds t) { s.set_timeout(to_ms(t, "timeout")); }, py::arg("timeout"))
      .def_property_readonly("timeout",
                             [](const Store& s) { return std::chrono::duration<double>(s.timeout()).count(); });

  py::class_<comm::HashStore, Store, std::shared_ptr<comm::HashStore>>(
      d, "HashStore", "A store inside this process (ranks as threads).")
      .def(py::init<>());

  py::class_<comm::TcpStore, Store, std::shared_ptr<comm::TcpStore>>(
      d, "TcpStore", "TCP rendezvous store; the process with is_server=True also runs the server.")
      .def(py::init([](const std::string& host, int port, bool is_server, const std::string& token,
                       std::optional<TimeoutSeconds> timeout_s) {
             comm::TcpStore::Options o;
             o.host = host;
             o.port = port;
             o.is_server = is_server;
             o.token = token;
             o.timeout = timeout_s ? to_ms(*timeout_s, "timeout") : comm::default_timeout();
             return std::make_shared<comm::TcpStore>(o);
           }),
           py::arg("host"), py::arg("port"), py::arg("is_server") = false, py::arg("token") = "",
           py::arg("timeout") = py::none(), nogil())
      .def_property_readonly("port", &comm::TcpStore::port);
}

void init_work(py::module_& d) {
  py::class_<Work, std::shared_ptr<Work>>(d, "Work", "Handle of an asynchronous op (C++ comm::Work).")
      .def(
          "wait",
          [](Work& w) {
            w.wait();
            return true;
          },
          nogil())
      .def("is_completed", &Work::is_completed)
      .def("exception", [](Work& w) { return exception_object(w.exception()); })
      .def("exception_text",
           [](Work& w) -> py::object {
             std::exception_ptr p = w.exception();
             if (!p) return py::none();
             try {
               std::rethrow_exception(p);
             } catch (const std::exception& e) {
               return py::str(e.what());
             } catch (...) {
               return py::str("unknown error");
             }
           })
      .def_property_readonly("description", &Work::description)
      .def("__repr__", [](Work& w) {
        return "<iccrt Work '" + w.description() + "'" + (w.is_completed() ? " completed>" : " pending>");
      });
}

void init_process_group(py::module_& d) {
  py::class_<ProcessGroup, std::shared_ptr<ProcessGroup>> pg(
      d, "ProcessGroup", "A set of ranks that run collectives together (C++ comm::ProcessGroup).");

  pg.def_static(
        "create",
        [](int rank, int size, std::shared_ptr<Store> store, const std::string& name,
           std::optional<TimeoutSeconds> timeout, std::optional<bool> debug, const std::string& host_id,
           const std::string& transport) {
          return python_owned(ProcessGroup::create(rank, size, std::move(store),
                                                   make_options(name, timeout, debug, host_id, transport)));
        },
        py::arg("rank"), py::arg("size"), py::arg("store"), py::arg("name") = "", py::arg("timeout") = py::none(),
        py::arg("debug") = py::none(), py::arg("host_id") = "", py::arg("transport") = "auto", nogil())
      .def_static(
          "from_environment",
          [](const std::string& name, std::optional<TimeoutSeconds> timeout, std::optional<bool> debug,
             const std::string& host_id, const std::string& transport) {
            return python_owned(ProcessGroup::from_environment(make_options(name, timeout, debug, host_id, transport)));
          },
          py::arg("name") = "", py::arg("timeout") = py::none(), py::arg("debug") = py::none(), py::arg("host_id") = "",
          py::arg("transport") = "auto", nogil());

  pg.def("rank", &ProcessGroup::rank)
      .def("size", &ProcessGroup::size)
      .def("name", &ProcessGroup::name)
      .def_property_readonly("group_name", &ProcessGroup::name)
      .def("timeout", [](const ProcessGroup& g) { return std::chrono::duration<double>(g.timeout()).count(); })
      .def("world_ranks", &ProcessGroup::world_ranks)
      .def(
          "split",
          [](ProcessGroup& g, int color, int key, const std::string& name, std::optional<TimeoutSeconds> timeout,
             std::optional<bool> debug) {
            return python_owned(g.split(color, key, make_options(name, timeout, debug, "", "auto")));
          },
          py::arg("color"), py::arg("key"), py::arg("name") = "", py::arg("timeout") = py::none(),
          py::arg("debug") = py::none(), nogil())
      .def(
          "new_group",
          [](ProcessGroup& g, const std::vector<int>& ranks, const std::string& name,
             std::optional<TimeoutSeconds> timeout, std::optional<bool> debug) {
            return python_owned(g.new_group(ranks, make_options(name, timeout, debug, "", "auto")));
          },
          py::arg("ranks"), py::arg("name") = "", py::arg("timeout") = py::none(), py::arg("debug") = py::none(),
          nogil());

  // Tensor ops: each queues the op and returns its Work at once (validation errors raise here).
  pg.def(
        "all_reduce",
        [](ProcessGroup& g, Tensor& t, comm::ReduceOp op, const std::string& algorithm, bool blocking) {
          return g.all_reduce(t, op, collective(algorithm, blocking));
        },
        py::arg("tensor"), py::arg("op") = comm::ReduceOp::Sum, py::arg("algorithm") = "auto",
        py::arg("blocking") = false, nogil())
      .def(
          "reduce_scatter",
          [](ProcessGroup& g, Tensor& out, const Tensor& in, comm::ReduceOp op, const std::string& algorithm,
             bool blocking) { return g.reduce_scatter(out, in, op, collective(algorithm, blocking)); },
          py::arg("output"), py::arg("input"), py::arg("op") = comm::ReduceOp::Sum, py::arg("algorithm") = "auto",
          py::arg("blocking") = false, nogil())
      .def(
          "all_gather",
          [](ProcessGroup& g, Tensor& out, const Tensor& in, const std::string& algorithm, bool blocking) {
            return g.all_gather(out, in, collective(algorithm, blocking));
          },
          py::arg("output"), py::arg("input"), py::arg("algorithm") = "auto", py::arg("blocking") = false, nogil())
      .def(
          "broadcast",
          [](ProcessGroup& g, Tensor& t, int root, const std::string& algorithm, bool blocking) {
            return g.broadcast(t, root, collective(algorithm, blocking));
          },
          py::arg("tensor"), py::arg("root"), py::arg("algorithm") = "auto", py::arg("blocking") = false, nogil())
      .def(
          "reduce",
          [](ProcessGroup& g, Tensor& t, int root, comm::ReduceOp op, const std::string& algorithm, bool blocking) {
            return g.reduce(t, root, op, collective(algorithm, blocking));
          },
          py::arg("tensor"), py::arg("root"), py::arg("op") = comm::ReduceOp::Sum, py::arg("algorithm") = "auto",
          py::arg("blocking") = false, nogil())
      .def(
          "all_to_all",
          [](ProcessGroup& g, Tensor& out, const Tensor& in, const std::string& algorithm, bool blocking) {
            return g.all_to_all(out, in, collective(algorithm, blocking));
          },
          py::arg("output"), py::arg("input"), py::arg("algorithm") = "auto", py::arg("blocking") = false, nogil())
      .def(
          "send", [](ProcessGroup& g, const Tensor& t, int dst, int tag) { return g.send(t, dst, tag); },
          py::arg("tensor"), py::arg("dst"), py::arg("tag") = 0, nogil())
      .def(
          "recv", [](ProcessGroup& g, Tensor& t, int src, int tag) { return g.recv(t, src, tag); }, py::arg("tensor"),
          py::arg("src"), py::arg("tag") = 0, nogil())
      .def(
          "barrier", [](ProcessGroup& g) { return g.barrier(); }, nogil());

  pg.def("flight_record", &ProcessGroup::flight_record)
      .def(
          "tuned_all_reduce_algorithm",
          [](const ProcessGroup& g, size_t bytes) {
            return std::string(comm::to_string(g.tuned_all_reduce_algorithm(bytes)));
          },
          py::arg("nbytes"))
      .def("shutdown", &ProcessGroup::shutdown, nogil())
      .def("__repr__", [](const ProcessGroup& g) {
        return "<iccrt ProcessGroup '" + g.name() + "' rank " + std::to_string(g.rank()) + " of " +
               std::to_string(g.size()) + ">";
      });
}

}  // namespace

void init_distributed(py::module_& m) {
  py::module_ d = m.def_submodule("_distributed", "Bindings behind iccrt.distributed (use that module instead).");
  init_errors_and_enums(d);
  init_stores(d);
  init_work(d);
  init_process_group(d);
}

}  // namespace iccrt::python
