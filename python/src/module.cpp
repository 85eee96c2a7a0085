// iccrt._C: the extension module. Each init_* lives in the file named after what it binds.
#include "bindings.hpp"

PYBIND11_MODULE(_C, m) {
  using namespace iccrt::python;
  m.doc() = "iccrt C++ core (use the iccrt package, not this module directly)";
  init_errors(m);
  init_dtype_device(m);
  py::class_<iccrt::Tensor> cls = init_tensor(m);
  init_ops(m, cls);
  init_factories(m);
  init_numpy(m, cls);
  init_dlpack(m, cls);
  init_distributed(m);
  init_autograd(m, cls);
  init_nn(m);
  init_parallel(m);
}
