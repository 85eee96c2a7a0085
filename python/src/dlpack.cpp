// DLPack exchange: Tensor.__dlpack__ / __dlpack_device__ (producer) and iccrt.from_dlpack (consumer), zero-copy.
// Produces the legacy "dltensor" capsule unless the consumer asks for max_version >= 1, then "dltensor_versioned";
// consumes both.
//
// Streams: iccrt queues CUDA work on the legacy default stream, which orders itself with every blocking stream, so
// exported CUDA tensors need no extra synchronisation for consumers that use the legacy default stream (stream=1
// or None) or blocking streams; iccrt imports with stream=1 for the same reason.
#include "dlpack.hpp"

#include "bindings.hpp"
#include "iccrt/core/error.hpp"

namespace iccrt::python {
namespace {

using namespace dlpack;

// What a produced capsule owns: a view of the tensor (keeps the storage alive) and the arrays DLTensor points to.
struct ExportContext {
  Tensor tensor;
  std::vector<int64_t> shape, strides;
};

DLDataType to_dl_dtype(DType t) {
  switch (t) {
    case DType::Float32:
      return {kDLFloat, 32, 1};
    case DType::Float64:
      return {kDLFloat, 64, 1};
    case DType::Float16:
      return {kDLFloat, 16, 1};
    case DType::BFloat16:
      return {kDLBfloat, 16, 1};
    case DType::Int32:
      return {kDLInt, 32, 1};
    case DType::Int64:
      return {kDLInt, 64, 1};
    case DType::UInt8:
      return {kDLUInt, 8, 1};
    case DType::Bool:
      return {kDLBool, 8, 1};
  }
  throw py::type_error("unknown dtype");
}

DType from_dl_dtype(const DLDataType& t) {
  if (t.lanes == 1) {
    if (t.code == kDLFloat && t.bits == 32) return DType::Float32;
    if (t.code == kDLFloat && t.bits == 64) return DType::Float64;
    if (t.code == kDLFloat && t.bits == 16) return DType::Float16;
    if (t.code == kDLBfloat && t.bits == 16) return DType::BFloat16;
    if (t.code == kDLInt && t.bits == 32) return DType::Int32;
    if (t.code == kDLInt && t.bits == 64) return DType::Int64;
    if (t.code == kDLUInt && t.bits == 8) return DType::UInt8;
    if (t.code == kDLBool && t.bits == 8) return DType::Bool;
  }
  throw py::buffer_error("from_dlpack: unsupported DLPack dtype (code " + std::to_string(t.code) + ", bits " +
                         std::to_string(t.bits) + ", lanes " + std::to_string(t.lanes) +
                         "); supported: float32/64/16, bfloat16, int32/64, uint8, bool");
}

DLDevice to_dl_device(const Device& d) { return d.is_cpu() ? DLDevice{kDLCPU, 0} : DLDevice{kDLCUDA, d.index}; }

Device from_dl_device(const DLDevice& d) {
  switch (d.device_type) {
    case kDLCPU:
    case kDLCUDAHost:
      return kCPU;  // pinned host memory is ordinary host memory to the CPU
    case kDLCUDA:
    case kDLCUDAManaged:
      return cuda_device(d.device_id);
    default:
      break;
  }
  throw py::buffer_error("from_dlpack: unsupported DLPack device type " + std::to_string(d.device_type) +
                         " (supported: CPU, CUDA, CUDA host, CUDA managed)");
}

template <class Managed>
void fill_dl_tensor(Managed* m, const Tensor& t) {
  auto* ctx = new ExportContext{t, t.shape(), t.strides()};
  m->manager_ctx = ctx;
  m->deleter = [](Managed* self) {
    delete static_cast<ExportContext*>(self->manager_ctx);
    delete self;
  };
  DLTensor& dl = m->dl_tensor;
  dl.data = t.data_ptr();
  dl.device = to_dl_device(t.device());
  dl.ndim = static_cast<int32_t>(t.dim());
  dl.dtype = to_dl_dtype(t.dtype());
  dl.shape = ctx->shape.data();
  dl.strides = ctx->strides.data();
  dl.byte_offset = 0;
}

// Capsule destructors: free the tensor unless a consumer took it (renamed the capsule).
void legacy_capsule_destructor(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, kUsedCapsuleName)) return;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kCapsuleName))) {
    if (m->deleter) m->deleter(m);
  } else {
    PyErr_WriteUnraisable(capsule);
  }
  PyErr_Restore(type, value, tb);
}

void versioned_capsule_destructor(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, kUsedVersionedCapsuleName)) return;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, kVersionedCapsuleName))) {
    if (m->deleter) m->deleter(m);
  } else {
    PyErr_WriteUnraisable(capsule);
  }
  PyErr_Restore(type, value, tb);
}

py::object to_dlpack(const Tensor& t, const py::object& stream, const py::object& max_version,
                     const py::object& dl_device, const py::object& copy) {
  Tensor src = t;
  bool copied = false;
  const bool copy_true = !copy.is_none() && copy.cast<bool>();
  const bool copy_false = !copy.is_none() && !copy.cast<bool>();
  if (!dl_device.is_none()) {
    const auto dev = dl_device.cast<std::pair<int, int>>();
    const DLDevice own = to_dl_device(t.device());
    if (dev.first != own.device_type || dev.second != own.device_id) {
      if (dev.first != kDLCPU || copy_false)
        throw py::buffer_error("__dlpack__: can't export a " + t.device().str() + " tensor to DLPack device (" +
                               std::to_string(dev.first) + ", " + std::to_string(dev.second) + ")" +
                               (copy_false ? " without a copy" : ""));
      py::gil_scoped_release release;
      src = t.to(kCPU);
      copied = true;
    }
  }
  if (copy_true && !copied) {
    py::gil_scoped_release release;
    src = t.clone();
    copied = true;
  }
  (void)stream;  // see the note on streams at the top of this file
  bool versioned = false;
  if (!max_version.is_none()) versioned = max_version.cast<std::pair<int, int>>().first >= 1;
  PyObject* capsule;
  if (versioned) {
    auto* m = new DLManagedTensorVersioned{};
    m->version = {kMajorVersion, kMinorVersion};
    m->flags = copied ? kFlagIsCopied : 0;
    fill_dl_tensor(m, src);
    capsule = PyCapsule_New(m, kVersionedCapsuleName, versioned_capsule_destructor);
    if (!capsule) m->deleter(m);
  } else {
    auto* m = new DLManagedTensor{};
    fill_dl_tensor(m, src);
    capsule = PyCapsule_New(m, kCapsuleName, legacy_capsule_destructor);
    if (!capsule) m->deleter(m);
  }
  if (!capsule) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(capsule);
}

// A tensor aliasing the DLPack memory; `release` runs when the last view of it goes.
Tensor tensor_from_dl(const DLTensor& dl, std::function<void(void*)> release) {
  ICCRT_CHECK_VALUE(dl.ndim >= 0 && dl.ndim <= kMaxDims, "from_dlpack: ", dl.ndim,
                    " dims is more than iccrt tensors support (", kMaxDims, ")");
  const DType dtype = from_dl_dtype(dl.dtype);
  const Device device = from_dl_device(dl.device);
  Shape shape(dl.shape, dl.shape + dl.ndim);
  Shape strides = dl.strides ? Shape(dl.strides, dl.strides + dl.ndim) : contiguous_strides(shape);
  int64_t extent = 1;
  bool empty = false;
  for (int32_t d = 0; d < dl.ndim; ++d) {
    if (shape[d] == 0) empty = true;
    if (strides[d] < 0)
      throw py::buffer_error("from_dlpack: negative strides are not supported; pass a contiguous copy");
    extent += (shape[d] - 1) * strides[d];
  }
  const size_t nbytes = empty ? 0 : static_cast<size_t>(extent * itemsize(dtype));
  char* data = static_cast<char*>(dl.data) + dl.byte_offset;
  Storage storage = std::make_shared<StorageImpl>(data, nbytes, device, std::move(release));
  return Tensor(std::move(storage), std::move(shape), std::move(strides), 0, dtype);
}

Tensor from_capsule(const py::object& capsule) {
  PyObject* cap = capsule.ptr();
  if (PyCapsule_IsValid(cap, kVersionedCapsuleName)) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(cap, kVersionedCapsuleName));
    if (m->version.major > kMajorVersion)
      throw py::buffer_error("from_dlpack: DLPack version " + std::to_string(m->version.major) + "." +
                             std::to_string(m->version.minor) + " is newer than iccrt supports (1.x)");
    // Ownership passes only once the capsule is renamed: if anything fails before, the capsule still frees it.
    auto owned = std::make_shared<bool>(false);
    Tensor t = tensor_from_dl(m->dl_tensor, [m, owned](void*) {
      if (*owned && m->deleter) m->deleter(m);
    });
    if (PyCapsule_SetName(cap, kUsedVersionedCapsuleName) != 0) throw py::error_already_set();
    *owned = true;
    if (m->flags & kFlagReadOnly) {
      // iccrt has no read-only tensors: take a private copy rather than risk writing to read-only memory.
      py::gil_scoped_release release;
      return t.clone();
    }
    return t;
  }
  if (PyCapsule_IsValid(cap, kCapsuleName)) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, kCapsuleName));
    auto owned = std::make_shared<bool>(false);
    Tensor t = tensor_from_dl(m->dl_tensor, [m, owned](void*) {
      if (*owned && m->deleter) m->deleter(m);
    });
    if (PyCapsule_SetName(cap, kUsedCapsuleName) != 0) throw py::error_already_set();
    *owned = true;
    return t;
  }
  if (PyCapsule_IsValid(cap, kUsedCapsuleName) || PyCapsule_IsValid(cap, kUsedVersionedCapsuleName))
    throw py::value_error("from_dlpack: this DLPack capsule was already consumed (a capsule can be used once)");
  throw py::type_error("from_dlpack: expected an object with __dlpack__ or a 'dltensor' capsule");
}

Tensor from_dlpack(const py::object& obj) {
  if (PyCapsule_CheckExact(obj.ptr())) return from_capsule(obj);
  if (!py::hasattr(obj, "__dlpack__"))
    throw py::type_error(
        "from_dlpack: expected an object with __dlpack__ (a DLPack producer such as a NumPy array "
        "or a torch tensor), got " +
        std::string(py::str(py::type::of(obj).attr("__name__"))));
  // CUDA producers order their work before `stream`; iccrt computes on the legacy default stream (1).
  py::object stream = py::none();
  if (py::hasattr(obj, "__dlpack_device__")) {
    const auto dev = obj.attr("__dlpack_device__")().cast<std::pair<int, int>>();
    if (dev.first == kDLCUDA || dev.first == kDLCUDAManaged) stream = py::int_(1);
  }
  py::object capsule;
  try {
    capsule = obj.attr("__dlpack__")(py::arg("stream") = stream, py::arg("max_version") = py::make_tuple(1, 0));
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    capsule = obj.attr("__dlpack__")(py::arg("stream") = stream);  // a producer from before DLPack 1.0
  }
  return from_capsule(capsule);
}

}  // namespace

void init_dlpack(py::module_& m, py::class_<Tensor>& cls) {
  cls.def("__dlpack__", &to_dlpack, py::arg("stream") = py::none(), py::arg("max_version") = py::none(),
          py::arg("dl_device") = py::none(), py::arg("copy") = py::none());
  cls.def("__dlpack_device__", [](const Tensor& t) {
    const DLDevice d = to_dl_device(t.device());
    return py::make_tuple(d.device_type, d.device_id);
  });
  m.def("from_dlpack", &from_dlpack, py::arg("ext_tensor"));
}

}  // namespace iccrt::python
