// Model ops for iccrt.nn.functional (differentiable), the fused optimizer step and checkpoint files.
#include "bindings.hpp"
#include "iccrt/autograd/functions.hpp"
#include "iccrt/io/safetensors.hpp"
#include "iccrt/nn/functional.hpp"
#include "iccrt/ops/nn.hpp"

namespace iccrt::python {
namespace {

using nogil = py::call_guard<py::gil_scoped_release>;

Tensor or_undefined(const py::object& o) { return o.is_none() ? Tensor() : o.cast<Tensor>(); }

// An int or a pair of ints (stride=2 or stride=(2, 1)), as torch's conv/pool arguments.
std::array<int64_t, 2> pair_arg(const py::object& o, const char* name) {
  if (py::isinstance<py::int_>(o)) {
    const int64_t v = o.cast<int64_t>();
    return {v, v};
  }
  std::vector<int64_t> v;
  try {
    v = o.cast<std::vector<int64_t>>();
  } catch (const py::cast_error&) {
    throw py::type_error(std::string(name) + ": expected an int or a pair of ints");
  }
  if (v.size() == 1) return {v[0], v[0]};
  if (v.size() != 2) throw py::value_error(std::string(name) + ": expected an int or a pair of ints");
  return {v[0], v[1]};
}

Shape shape_arg(const py::object& o) {
  if (py::isinstance<py::int_>(o)) return {o.cast<int64_t>()};
  return o.cast<Shape>();
}

}  // namespace

void init_nn(py::module_& m) {
  m.def("softmax", &iccrt::softmax, py::arg("input"), py::arg("dim"), nogil());
  m.def("log_softmax", &iccrt::log_softmax, py::arg("input"), py::arg("dim"), nogil());
  m.def(
      "layer_norm",
      [](const Tensor& x, const py::object& shape, const py::object& w, const py::object& b, double eps) {
        const Shape s = shape_arg(shape);
        const Tensor wt = or_undefined(w), bt = or_undefined(b);
        py::gil_scoped_release release;
        return iccrt::layer_norm(x, s, wt, bt, eps);
      },
      py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
      py::arg("eps") = 1e-5);
  m.def(
      "rms_norm",
      [](const Tensor& x, const py::object& shape, const py::object& w, const py::object& eps) {
        const Shape s = shape_arg(shape);
        const Tensor wt = or_undefined(w);
        const double e = eps.is_none() ? 1e-6 : eps.cast<double>();
        py::gil_scoped_release release;
        return iccrt::rms_norm(x, s, wt, e);
      },
      py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(), py::arg("eps") = py::none());
  m.def(
      "linear",
      [](const Tensor& x, const Tensor& w, const py::object& b) {
        const Tensor bt = or_undefined(b);
        py::gil_scoped_release release;
        return iccrt::linear(x, w, bt);
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none());
  m.def(
      "embedding",
      [](const Tensor& idx, const Tensor& w, const py::object& padding_idx) {
        int64_t pad = padding_idx.is_none() ? -1 : padding_idx.cast<int64_t>();
        if (pad < 0 && !padding_idx.is_none()) pad += w.size(0);
        if (!padding_idx.is_none() && (pad < 0 || pad >= w.size(0)))
          throw py::index_error("embedding: padding_idx " + std::to_string(padding_idx.cast<int64_t>()) +
                                " is out of range for " + std::to_string(w.size(0)) + " embeddings");
        py::gil_scoped_release release;
        return iccrt::embedding(idx, w, pad);
      },
      py::arg("input"), py::arg("weight"), py::arg("padding_idx") = py::none());
  m.def(
      "cross_entropy",
      [](const Tensor& logits, const Tensor& target, int64_t ignore_index, const std::string& reduction,
         double label_smoothing) { return iccrt::cross_entropy(logits, target, ignore_index, label_smoothing, reduction); },
      py::arg("input"), py::arg("target"), py::arg("ignore_index") = -100, py::arg("reduction") = "mean",
      py::arg("label_smoothing") = 0.0, nogil());
  m.def(
      "scaled_dot_product_attention",
      [](const Tensor& q, const Tensor& k, const Tensor& v, bool is_causal, const py::object& scale) {
        const double s = scale.is_none() ? 0.0 : scale.cast<double>();
        if (!scale.is_none() && s <= 0) throw py::value_error("scaled_dot_product_attention: scale must be positive");
        py::gil_scoped_release release;
        return iccrt::scaled_dot_product_attention(q, k, v, is_causal, s);
      },
      py::arg("query"), py::arg("key"), py::arg("value"), py::arg("is_causal") = false, py::arg("scale") = py::none());
  m.def(
      "dropout",
      [](const Tensor& x, double p, bool training, Generator* gen) { return iccrt::dropout(x, p, training, gen); },
      py::arg("input"), py::arg("p") = 0.5, py::arg("training") = true, py::arg("generator") = nullptr, nogil());
  m.def(
      "conv2d",
      [](const Tensor& x, const Tensor& w, const py::object& b, const py::object& stride, const py::object& padding,
         const py::object& dilation, int64_t groups) {
        ops::Conv2dParams p;
        p.stride = pair_arg(stride, "conv2d stride");
        p.padding = pair_arg(padding, "conv2d padding");
        p.dilation = pair_arg(dilation, "conv2d dilation");
        p.groups = groups;
        const Tensor bt = or_undefined(b);
        py::gil_scoped_release release;
        return iccrt::conv2d(x, w, bt, p);
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
      py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1);
  m.def(
      "max_pool2d",
      [](const Tensor& x, const py::object& kernel, const py::object& stride, const py::object& padding,
         const py::object& dilation, bool ceil_mode) {
        ops::Pool2dParams p;
        p.kernel = pair_arg(kernel, "max_pool2d kernel_size");
        p.stride = stride.is_none() ? p.kernel : pair_arg(stride, "max_pool2d stride");
        p.padding = pair_arg(padding, "max_pool2d padding");
        p.dilation = pair_arg(dilation, "max_pool2d dilation");
        p.ceil_mode = ceil_mode;
        py::gil_scoped_release release;
        return iccrt::max_pool2d(x, p);
      },
      py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("dilation") = 1, py::arg("ceil_mode") = false);
  m.def(
      "cat", [](const std::vector<Tensor>& ts, int64_t dim) { return iccrt::cat(ts, dim); }, py::arg("tensors"),
      py::arg("dim") = 0, nogil());
  m.def(
      "stack", [](const std::vector<Tensor>& ts, int64_t dim) { return iccrt::stack(ts, dim); }, py::arg("tensors"),
      py::arg("dim") = 0, nogil());
  m.def(
      "_adamw_",
      [](const Tensor& param, const Tensor& grad, const Tensor& m1, const Tensor& m2, double lr, double beta1,
         double beta2, double eps, double weight_decay, int64_t step, bool maximize) {
        ops::AdamWParams p{lr, beta1, beta2, eps, weight_decay, step, maximize};
        ops::adamw_(param, grad, m1, m2, p);
      },
      py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"), py::arg("lr"), py::arg("beta1"),
      py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("step"), py::arg("maximize") = false, nogil());

  m.def(
      "_save_safetensors",
      [](const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
         const std::map<std::string, std::string>& metadata) { save_safetensors(path, tensors, metadata); },
      py::arg("path"), py::arg("tensors"), py::arg("metadata") = std::map<std::string, std::string>{}, nogil());
  m.def(
      "_load_safetensors",
      [](const std::string& path) {
        TensorFile f;
        {
          py::gil_scoped_release release;
          f = load_safetensors(path);
        }
        return py::make_tuple(py::cast(f.tensors), py::cast(f.metadata));
      },
      py::arg("path"));
}

}  // namespace iccrt::python
