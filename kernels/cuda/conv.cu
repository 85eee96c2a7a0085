// 2-d convolution (NCHW, cross-correlation, groups / stride / padding / dilation) through cuDNN's legacy
// convolution API; the bias add and the bias gradient are two small kernels of ours.
//
// Note [cuDNN handle per device]
// One cudnnHandle_t per device, created on first use and kept for the life of the process (destroying it at exit
// could run after the CUDA context is gone). A handle is bound to one stream at a time, so a per-device mutex is
// held from cudnnSetStream to the last call that queues work: concurrent callers on one device take turns while
// they enqueue, which is host-side work only.
//
// Note [cuDNN math and algorithms]
// float32 runs with CUDNN_FMA_MATH (no TF32: results must match the CPU kernels to float32 accuracy), float64
// with the default math, float16 / bfloat16 on tensor cores with float accumulation. The algorithm is the first
// one cudnnGet*Algorithm_v7 ranks that succeeds under that math (its workspace comes from cudaMallocAsync on the
// stream); if that workspace cannot be allocated the next candidate is tried.
#include <cudnn.h>

#include <array>
#include <mutex>
#include <string>

#include "kernels/cuda/nn_common.cuh"
#include "kernels/cuda/nn_kernels.hpp"

namespace iccrt::kernels::cuda {
namespace {

[[noreturn]] void throw_cudnn(cudnnStatus_t st, const char* expr, const std::string& what) {
  throw ::iccrt::Error(::iccrt::detail::str("cuDNN error in ", what, ": ", cudnnGetErrorString(st), " (status ",
                                            static_cast<int>(st), ") from ", expr));
}

#define ICCRT_CUDNN_CHECK(expr, ...)                                          \
  do {                                                                        \
    const cudnnStatus_t iccrt_cudnn_st_ = (expr);                             \
    if (iccrt_cudnn_st_ != CUDNN_STATUS_SUCCESS)                              \
      throw_cudnn(iccrt_cudnn_st_, #expr, ::iccrt::detail::str(__VA_ARGS__)); \
  } while (0)

// ---- kernels: bias add and bias gradient ----

constexpr int kThreads = 256;

// y[n, o, p] += bias[o] for y [n, channels, plane].
template <class T>
__global__ void __launch_bounds__(kThreads)
    bias_add_kernel(T* __restrict__ y, const T* __restrict__ bias, int64_t total, int64_t channels, int64_t plane) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t o = (i / plane) % channels;
    detail::store(y, i, detail::load(y, i) + detail::load(bias, o));
  }
}

// grad_bias[o] = sum over n and the plane of grad_y[n, o, :], one block per channel (a fixed summation order).
template <class T>
__global__ void __launch_bounds__(kThreads) bias_grad_kernel(const T* __restrict__ grad_y, T* __restrict__ grad_bias,
                                                             int64_t batch, int64_t channels, int64_t plane) {
  using A = opmath_t<T>;
  __shared__ A smem[32];
  const int64_t o = blockIdx.x;
  A acc = A(0);
  const int64_t count = batch * plane;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) {
    const int64_t n = i / plane, p = i - n * plane;
    acc += detail::load(grad_y, (n * channels + o) * plane + p);
  }
  acc = detail::group_reduce(acc, kThreads, smem, detail::SumOp{});
  if (threadIdx.x == 0) detail::store(grad_bias, o, acc);
}

// ---- cuDNN plumbing ----

struct HandleSlot {
  std::mutex mu;
  cudnnHandle_t handle = nullptr;
};

constexpr int kMaxDevices = 64;

// Holds the current device's handle (see Note [cuDNN handle per device]), bound to `stream`, until destroyed.
class HandleLease {
 public:
  HandleLease(cudaStream_t stream, const char* op) : slot_(slot(op)), lock_(slot_.mu) {
    if (slot_.handle == nullptr) ICCRT_CUDNN_CHECK(cudnnCreate(&slot_.handle), op, ": creating the cuDNN handle");
    ICCRT_CUDNN_CHECK(cudnnSetStream(slot_.handle, stream), op, ": binding the cuDNN handle to the stream");
  }
  cudnnHandle_t get() const { return slot_.handle; }

 private:
  static HandleSlot& slot(const char* op) {
    static auto* slots = new std::array<HandleSlot, kMaxDevices>();  // never destroyed: see the Note
    int dev = 0;
    ICCRT_CUDA_CHECK(cudaGetDevice(&dev), op, ": cudaGetDevice");
    ICCRT_CHECK(dev >= 0 && dev < kMaxDevices, op, ": CUDA device ", dev, " is beyond the ", kMaxDevices,
                " devices iccrt keeps cuDNN handles for");
    return (*slots)[dev];
  }
  HandleSlot& slot_;
  std::lock_guard<std::mutex> lock_;
};

cudnnDataType_t data_type(DType t) {
  ICCRT_CHECK_DTYPE(is_floating(t), "conv2d expects a floating dtype (float32, float64, float16, bfloat16) but got ",
                    dtype_name(t));
  switch (t) {
    case DType::Float64:
      return CUDNN_DATA_DOUBLE;
    case DType::Float16:
      return CUDNN_DATA_HALF;
    case DType::BFloat16:
      return CUDNN_DATA_BFLOAT16;
    default:
      return CUDNN_DATA_FLOAT;
  }
}

cudnnMathType_t math_type(DType t) {  // Note [cuDNN math and algorithms]
  if (t == DType::Float32) return CUDNN_FMA_MATH;
  if (t == DType::Float64) return CUDNN_DEFAULT_MATH;
  return CUDNN_TENSOR_OP_MATH;
}

int as_int(int64_t v, const char* what, const char* op) {
  ICCRT_CHECK_VALUE(v >= 0 && v <= INT32_MAX, op, ": ", what, " = ", v, " does not fit cuDNN's 32-bit sizes");
  return static_cast<int>(v);
}

void check_numel(int64_t a, int64_t b, int64_t c, int64_t d, const char* what, const char* op) {
  const int64_t n = a * b * c * d;
  ICCRT_CHECK_VALUE(n <= INT32_MAX, op, ": the CUDA convolution takes tensors of at most 2^31 - 1 elements but ", what,
                    " has ", n);
}

// One cuDNN descriptor, destroyed with its owner (destroy calls only fail for invalid descriptors).
template <class D, cudnnStatus_t (*Create)(D*), cudnnStatus_t (*Destroy)(D)>
class Desc {
 public:
  explicit Desc(const char* op) { ICCRT_CUDNN_CHECK(Create(&d_), op, ": creating a cuDNN descriptor"); }
  ~Desc() { (void)Destroy(d_); }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  D get() const { return d_; }

 private:
  D d_ = nullptr;
};

// The descriptors of one convolution. Members are built before the body runs, so a check that fails half-way
// still destroys what was created.
class ConvDescs {
 public:
  ConvDescs(const ConvArgs& g, const char* op) : x_(op), y_(op), w_(op), conv_(op) {
    ICCRT_CHECK_VALUE(g.groups >= 1 && g.c % g.groups == 0 && g.o % g.groups == 0, op, ": groups = ", g.groups,
                      " must divide both the ", g.c, " input and the ", g.o, " output channels");
    check_numel(g.n, g.c, g.h, g.w, "the input", op);
    check_numel(g.n, g.o, g.oh, g.ow, "the output", op);
    check_numel(g.o, g.c / g.groups, g.kh, g.kw, "the weight", op);
    x = x_.get();
    y = y_.get();
    w = w_.get();
    conv = conv_.get();
    const cudnnDataType_t dt = data_type(g.dtype);
    ICCRT_CUDNN_CHECK(
        cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, dt, as_int(g.n, "batch", op), as_int(g.c, "channels", op),
                                   as_int(g.h, "height", op), as_int(g.w, "width", op)),
        op, ": describing the input [", g.n, ", ", g.c, ", ", g.h, ", ", g.w, "]");
    ICCRT_CUDNN_CHECK(
        cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, dt, as_int(g.n, "batch", op), as_int(g.o, "out channels", op),
                                   as_int(g.oh, "out height", op), as_int(g.ow, "out width", op)),
        op, ": describing the output [", g.n, ", ", g.o, ", ", g.oh, ", ", g.ow, "]");
    ICCRT_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, dt, CUDNN_TENSOR_NCHW, as_int(g.o, "out channels", op),
                                                 as_int(g.c / g.groups, "channels per group", op),
                                                 as_int(g.kh, "kernel height", op), as_int(g.kw, "kernel width", op)),
                      op, ": describing the weight [", g.o, ", ", g.c / g.groups, ", ", g.kh, ", ", g.kw, "]");
    ICCRT_CUDNN_CHECK(
        cudnnSetConvolution2dDescriptor(
            conv, as_int(g.pad_h, "pad_h", op), as_int(g.pad_w, "pad_w", op), as_int(g.stride_h, "stride_h", op),
            as_int(g.stride_w, "stride_w", op), as_int(g.dil_h, "dilation_h", op), as_int(g.dil_w, "dilation_w", op),
            CUDNN_CROSS_CORRELATION, g.dtype == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT),
        op, ": describing the convolution (stride ", g.stride_h, "x", g.stride_w, ", padding ", g.pad_h, "x", g.pad_w,
        ", dilation ", g.dil_h, "x", g.dil_w, ")");
    ICCRT_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, as_int(g.groups, "groups", op)), op, ": setting ", g.groups,
                      " groups");
    ICCRT_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math_type(g.dtype)), op, ": setting the math type");
  }

 private:
  Desc<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor> x_, y_;
  Desc<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor> w_;
  Desc<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor, cudnnDestroyConvolutionDescriptor> conv_;

 public:
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
};

// alpha = 1 and beta = 0 in the scaling type cuDNN expects (double for double data, float otherwise).
struct Scaling {
  explicit Scaling(DType t) : is_double(t == DType::Float64) {}
  const void* one() const { return is_double ? static_cast<const void*>(&d1) : static_cast<const void*>(&f1); }
  const void* zero() const { return is_double ? static_cast<const void*>(&d0) : static_cast<const void*>(&f0); }
  bool is_double;
  float f1 = 1.0f, f0 = 0.0f;
  double d1 = 1.0, d0 = 0.0;
};

// Runs one convolution pass with the best usable algorithm (Note [cuDNN math and algorithms]).
//   find(perfs, &count) ranks the algorithms; workspace(algo, &bytes) sizes one; run(algo, ws, bytes) runs it.
template <class Perf, class Find, class Workspace, class Run>
void run_best(const ConvArgs& g, const ConvDescs& descs, cudaStream_t s, const char* op, const char* pass, Find&& find,
              Workspace&& workspace, Run&& run) {
  constexpr int kMaxAlgos = 16;
  Perf perfs[kMaxAlgos];
  int count = 0;
  // Rank under the dtype's math (an earlier pass may have left another algorithm's math on the descriptor).
  ICCRT_CUDNN_CHECK(cudnnSetConvolutionMathType(descs.conv, math_type(g.dtype)), op, ": setting the math type");
  ICCRT_CUDNN_CHECK(find(perfs, kMaxAlgos, &count), op, ": ranking cuDNN ", pass, " algorithms");
  size_t failed_bytes = 0;
  cudnnStatus_t unsupported = CUDNN_STATUS_SUCCESS;
  for (int i = 0; i < count; ++i) {
    const Perf& perf = perfs[i];
    if (perf.status != CUDNN_STATUS_SUCCESS) continue;
    if (g.dtype == DType::Float32 && perf.mathType != CUDNN_FMA_MATH) continue;  // would allow TF32
    ICCRT_CUDNN_CHECK(cudnnSetConvolutionMathType(descs.conv, perf.mathType), op, ": setting the math type");
    size_t bytes = 0;
    ICCRT_CUDNN_CHECK(workspace(perf.algo, &bytes), op, ": sizing the ", pass, " workspace (algorithm ",
                      static_cast<int>(perf.algo), ")");
    void* ws = nullptr;
    if (bytes > 0) {
      const cudaError_t err = cudaMallocAsync(&ws, bytes, s);
      if (err == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        failed_bytes = bytes;
        continue;  // a slower algorithm with a smaller workspace may still fit
      }
      ICCRT_CUDA_CHECK(err, op, ": allocating ", bytes, " bytes of cuDNN workspace");
    }
    const cudnnStatus_t st = run(perf.algo, ws, bytes);
    if (ws != nullptr) ICCRT_CUDA_CHECK(cudaFreeAsync(ws, s), op, ": freeing the cuDNN workspace");
    if (st == CUDNN_STATUS_NOT_SUPPORTED) {  // ranked but refused at run time: nothing was queued, try the next
      unsupported = st;
      continue;
    }
    ICCRT_CUDNN_CHECK(st, op, ": running the ", pass, " convolution (algorithm ", static_cast<int>(perf.algo), ")");
    return;
  }
  ICCRT_CUDNN_CHECK(unsupported, op, ": every ranked ", pass, " algorithm was refused at run time");
  ICCRT_CHECK(failed_bytes == 0, op, ": out of GPU memory for the cuDNN ", pass, " workspace (", failed_bytes,
              " bytes for the last algorithm tried)");
  ICCRT_CHECK(false, op, ": cuDNN offers no ", pass, " algorithm for input [", g.n, ", ", g.c, ", ", g.h, ", ", g.w,
              "], weight [", g.o, ", ", g.c / g.groups, ", ", g.kh, ", ", g.kw, "], groups ", g.groups, ", dtype ",
              dtype_name(g.dtype));
}

// A geometry cuDNN cannot describe (a zero-sized dimension); its outputs are all zeros (plus the bias).
bool degenerate(const ConvArgs& g) {
  return g.n == 0 || g.c == 0 || g.h == 0 || g.w == 0 || g.o == 0 || g.kh == 0 || g.kw == 0 || g.oh == 0 || g.ow == 0;
}

void zero_fill(void* p, int64_t elems, DType t, cudaStream_t s, const char* op) {
  if (p == nullptr || elems == 0) return;
  ICCRT_CUDA_CHECK(cudaMemsetAsync(p, 0, static_cast<size_t>(elems * itemsize(t)), s), op, ": zero-filling");
}

}  // namespace

void conv2d_forward(const ConvArgs& g, const void* x, const void* weight, const void* bias, void* y, Stream stream) {
  const char* op = "conv2d";
  const cudaStream_t s = detail::as_stream(stream);
  const int64_t y_numel = g.n * g.o * g.oh * g.ow;
  if (y_numel == 0) return;
  if (degenerate(g)) {
    zero_fill(y, y_numel, g.dtype, s, op);
  } else {
    const ConvDescs descs(g, op);
    const Scaling k(g.dtype);
    HandleLease h(s, op);
    run_best<cudnnConvolutionFwdAlgoPerf_t>(
        g, descs, s, op, "forward",
        [&](cudnnConvolutionFwdAlgoPerf_t* perfs, int n, int* count) {
          return cudnnGetConvolutionForwardAlgorithm_v7(h.get(), descs.x, descs.w, descs.conv, descs.y, n, count,
                                                        perfs);
        },
        [&](cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
          return cudnnGetConvolutionForwardWorkspaceSize(h.get(), descs.x, descs.w, descs.conv, descs.y, algo, bytes);
        },
        [&](cudnnConvolutionFwdAlgo_t algo, void* ws, size_t bytes) {
          return cudnnConvolutionForward(h.get(), k.one(), descs.x, x, descs.w, weight, descs.conv, algo, ws, bytes,
                                         k.zero(), descs.y, y);
        });
  }
  if (bias == nullptr) return;
  dispatch_floating(g.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::launch("conv2d bias", bias_add_kernel<T>, detail::grid_size(y_numel, kThreads), kThreads, 0, s,
                   static_cast<T*>(y), static_cast<const T*>(bias), y_numel, g.o, g.oh * g.ow);
  });
}

void conv2d_backward(const ConvArgs& g, const void* grad_y, const void* x, const void* weight, void* grad_x,
                     void* grad_weight, void* grad_bias, Stream stream) {
  const char* op = "conv2d_backward";
  const cudaStream_t s = detail::as_stream(stream);
  if (grad_bias != nullptr && g.o > 0) {
    ICCRT_CHECK_VALUE(g.o <= INT32_MAX, op, ": ", g.o, " output channels exceed the CUDA grid limit");
    dispatch_floating(g.dtype, op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      detail::launch("conv2d_backward bias", bias_grad_kernel<T>, static_cast<unsigned>(g.o), kThreads, 0, s,
                     static_cast<const T*>(grad_y), static_cast<T*>(grad_bias), g.n, g.o, g.oh * g.ow);
    });
  }
  if (grad_x == nullptr && grad_weight == nullptr) return;
  if (degenerate(g)) {  // an empty output or input: no term reaches either gradient
    zero_fill(grad_x, g.n * g.c * g.h * g.w, g.dtype, s, op);
    zero_fill(grad_weight, g.o * (g.groups > 0 ? g.c / g.groups : 0) * g.kh * g.kw, g.dtype, s, op);
    return;
  }
  const ConvDescs descs(g, op);
  const Scaling k(g.dtype);
  HandleLease h(s, op);
  if (grad_x != nullptr) {
    run_best<cudnnConvolutionBwdDataAlgoPerf_t>(
        g, descs, s, op, "backward-data",
        [&](cudnnConvolutionBwdDataAlgoPerf_t* perfs, int n, int* count) {
          return cudnnGetConvolutionBackwardDataAlgorithm_v7(h.get(), descs.w, descs.y, descs.conv, descs.x, n, count,
                                                             perfs);
        },
        [&](cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
          return cudnnGetConvolutionBackwardDataWorkspaceSize(h.get(), descs.w, descs.y, descs.conv, descs.x, algo,
                                                              bytes);
        },
        [&](cudnnConvolutionBwdDataAlgo_t algo, void* ws, size_t bytes) {
          return cudnnConvolutionBackwardData(h.get(), k.one(), descs.w, weight, descs.y, grad_y, descs.conv, algo, ws,
                                              bytes, k.zero(), descs.x, grad_x);
        });
  }
  if (grad_weight != nullptr) {
    run_best<cudnnConvolutionBwdFilterAlgoPerf_t>(
        g, descs, s, op, "backward-filter",
        [&](cudnnConvolutionBwdFilterAlgoPerf_t* perfs, int n, int* count) {
          return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h.get(), descs.x, descs.y, descs.conv, descs.w, n, count,
                                                               perfs);
        },
        [&](cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
          return cudnnGetConvolutionBackwardFilterWorkspaceSize(h.get(), descs.x, descs.y, descs.conv, descs.w, algo,
                                                                bytes);
        },
        [&](cudnnConvolutionBwdFilterAlgo_t algo, void* ws, size_t bytes) {
          return cudnnConvolutionBackwardFilter(h.get(), k.one(), descs.x, x, descs.y, grad_y, descs.conv, algo, ws,
                                                bytes, k.zero(), descs.w, grad_weight);
        });
  }
}

}  // namespace iccrt::kernels::cuda
