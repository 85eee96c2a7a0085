// GEMM through cuBLASLt: float32 (TF32 tensor cores when allowed), float64, float16 and bfloat16 (float32
// accumulate and scale). Batched through strided-batch layouts; a batch stride of 0 broadcasts a matrix.
//
// Note [Row-major GEMM on a column-major library]
// A row-major r×c matrix with row stride ld is, byte for byte, a column-major c×r matrix with leading dimension
// ld. So C = op(A) op(B) (row-major) is computed as C^T = op(B)^T op(A)^T in column-major terms: cuBLASLt's
// "A" is our B, its "B" is our A, and m and n swap. Nothing is copied or transposed in memory.
#include <cublasLt.h>

#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/cuda_utils.cuh"
#include "kernels/cuda/numeric.cuh"

#define ICCRT_CUBLAS_CHECK(expr, ...)                                                                     \
  do {                                                                                                    \
    const cublasStatus_t iccrt_cublas_st_ = (expr);                                                       \
    if (iccrt_cublas_st_ != CUBLAS_STATUS_SUCCESS) {                                                      \
      throw ::iccrt::Error(::iccrt::detail::str("cuBLASLt error in ", ::iccrt::detail::str(__VA_ARGS__), ": ", \
                                                cublasLtGetStatusName(iccrt_cublas_st_), " (",            \
                                                cublasLtGetStatusString(iccrt_cublas_st_), ") from ", #expr)); \
    }                                                                                                     \
  } while (0)

namespace iccrt::kernels::cuda {
namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;  // what cuBLAS itself reserves per handle on Hopper

// Process-lifetime per-device state. Never destroyed: tearing down cuBLASLt after the CUDA runtime has begun
// unloading at exit fails, and the OS reclaims everything anyway.
struct LtState {
  std::mutex mu;
  std::map<int, cublasLtHandle_t> handles;
  // One workspace per (device, stream): two streams running GEMMs at once must not share scratch memory.
  std::map<std::pair<int, void*>, void*> workspaces;
  // Heuristic results by problem: the query costs tens of microseconds of CPU, a GEMM can take less.
  std::map<std::vector<int64_t>, cublasLtMatmulAlgo_t> algos;
};

LtState& state() {
  static LtState* s = new LtState();
  return *s;
}

cublasLtHandle_t handle_for(int device) {
  LtState& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  auto it = st.handles.find(device);
  if (it != st.handles.end()) return it->second;
  cublasLtHandle_t h = nullptr;
  ICCRT_CUBLAS_CHECK(cublasLtCreate(&h), "creating a cuBLASLt handle for device ", device);
  st.handles.emplace(device, h);
  return h;
}

// The workspace for (device, stream), or nullptr when there is not enough memory for one (GEMMs then use
// algorithms that need none).
void* workspace_for(int device, cudaStream_t stream) {
  LtState& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  const auto key = std::make_pair(device, static_cast<void*>(stream));
  auto it = st.workspaces.find(key);
  if (it != st.workspaces.end()) return it->second;
  void* ws = nullptr;
  const cudaError_t err = cudaMalloc(&ws, kWorkspaceBytes);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    return nullptr;  // not cached: a later call may find the memory
  }
  ICCRT_CUDA_CHECK(err, "gemm: allocating the cuBLASLt workspace");
  st.workspaces.emplace(key, ws);
  return ws;
}

// Largest power of two (up to 256) dividing the address and, for batches, the batch stride in bytes.
uint32_t alignment(const void* p, int64_t batch_stride_bytes, int64_t batch) {
  uint64_t bits = reinterpret_cast<uintptr_t>(p) | 256u;
  if (batch > 1 && batch_stride_bytes != 0) bits |= static_cast<uint64_t>(batch_stride_bytes);
  return static_cast<uint32_t>(bits & (~bits + 1));
}

template <class T>
__global__ void scale_c_kernel(T* c, int64_t batch, int64_t m, int64_t n, int64_t ldc, int64_t stride_c,
                               double beta) {
  const int64_t total = batch * m * n;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t j = i % n, r = (i / n) % m, b = i / (n * m);
    T& v = c[b * stride_c + r * ldc + j];
    // beta == 0 overwrites, as BLAS does: C may hold NaN or garbage that must not leak through 0 * C.
    using A = opmath_t<T>;
    v = beta == 0.0 ? detail::from_op<T>(A(0)) : detail::from_op<T>(static_cast<A>(beta * detail::to_op(v)));
  }
}

// k == 0: the product is empty and C = beta * C.
void scale_c(const GemmArgs& a, cudaStream_t s) {
  if (a.beta == 1.0) return;
  dispatch_floating(a.dtype, "gemm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int kThreads = 256;
    detail::launch("gemm_scale_c", scale_c_kernel<T>, detail::grid_size(a.batch * a.m * a.n, kThreads), kThreads,
                   0, s, static_cast<T*>(a.c), a.batch, a.m, a.n, a.ldc, a.stride_c, a.beta);
  });
}

struct Layout {
  cublasLtMatrixLayout_t desc = nullptr;
  ~Layout() {
    if (desc != nullptr) (void)cublasLtMatrixLayoutDestroy(desc);
  }
};

// A column-major rows×cols matrix (see Note [Row-major GEMM on a column-major library]).
void make_layout(Layout& l, cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                 int64_t stride) {
  // With one column the leading dimension is never used; cuBLASLt still wants it >= rows.
  if (cols <= 1 && ld < rows) ld = rows;
  if (ld < 1) ld = 1;
  ICCRT_CHECK_VALUE(ld >= rows, "gemm: a row stride of ", ld, " overlaps rows of length ", rows,
                    "; the ops layer must pass matrices with a unit inner stride and non-overlapping rows");
  ICCRT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l.desc, type, static_cast<uint64_t>(rows),
                                                static_cast<uint64_t>(cols), ld),
                     "gemm layout");
  if (batch > 1) {
    const int32_t count = static_cast<int32_t>(batch);
    ICCRT_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l.desc, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                        sizeof(count)),
                       "gemm batch count");
    ICCRT_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l.desc, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                        &stride, sizeof(stride)),
                       "gemm batch stride");
  }
}

// Queues the GEMM; returns false, having queued nothing, when cuBLASLt has no algorithm for the problem.
bool run_lt(const GemmArgs& a, bool allow_tf32, cudaStream_t stream) {
  cudaDataType_t type = CUDA_R_32F, scale_type = CUDA_R_32F;
  cublasComputeType_t compute = allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  switch (a.dtype) {
    case DType::Float32: break;
    case DType::Float64:
      type = scale_type = CUDA_R_64F;
      compute = CUBLAS_COMPUTE_64F;
      break;
    case DType::Float16:
      type = CUDA_R_16F;
      compute = CUBLAS_COMPUTE_32F;
      break;
    case DType::BFloat16:
      type = CUDA_R_16BF;
      compute = CUBLAS_COMPUTE_32F;
      break;
    default:
      ICCRT_CHECK_DTYPE(false, "CUDA gemm expects float32, float64, float16 or bfloat16 but got ",
                        dtype_name(a.dtype));
  }
  ICCRT_CHECK_VALUE(a.batch <= INT32_MAX, "gemm: batch ", a.batch, " is larger than cuBLASLt supports");
  int device = 0;
  ICCRT_CUDA_CHECK(cudaGetDevice(&device), "gemm");
  const cublasLtHandle_t handle = handle_for(device);
  void* ws = workspace_for(device, stream);
  const uint64_t ws_bytes = ws != nullptr ? kWorkspaceBytes : 0;

  cublasLtMatmulDesc_t op_desc = nullptr;
  ICCRT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op_desc, compute, scale_type), "gemm descriptor");
  struct DescGuard {
    cublasLtMatmulDesc_t d;
    ~DescGuard() { (void)cublasLtMatmulDescDestroy(d); }
  } op_guard{op_desc};
  const cublasOperation_t ta = a.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's A is our B
  const cublasOperation_t tb = a.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  ICCRT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)), "gemm");
  ICCRT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)), "gemm");

  Layout la, lb, lc;
  make_layout(la, type, a.trans_b ? a.k : a.n, a.trans_b ? a.n : a.k, a.ldb, a.batch, a.stride_b);
  make_layout(lb, type, a.trans_a ? a.m : a.k, a.trans_a ? a.k : a.m, a.lda, a.batch, a.stride_a);
  make_layout(lc, type, a.n, a.m, a.ldc, a.batch, a.stride_c);

  const int64_t isz = itemsize(a.dtype);
  const uint32_t align_a = alignment(a.b, a.stride_b * isz, a.batch);
  const uint32_t align_b = alignment(a.a, a.stride_a * isz, a.batch);
  const uint32_t align_c = alignment(a.c, a.stride_c * isz, a.batch);

  const std::vector<int64_t> key = {device, static_cast<int64_t>(a.dtype), allow_tf32, a.trans_a, a.trans_b, a.m,
                                    a.n, a.k, a.batch, a.lda, a.ldb, a.ldc, a.stride_a, a.stride_b, a.stride_c,
                                    align_a, align_b, align_c, static_cast<int64_t>(ws_bytes), a.beta == 0.0};
  cublasLtMatmulAlgo_t algo;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(state().mu);
    auto it = state().algos.find(key);
    if (it != state().algos.end()) {
      algo = it->second;
      cached = true;
    }
  }
  if (!cached) {
    cublasLtMatmulPreference_t pref = nullptr;
    ICCRT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref), "gemm preference");
    struct PrefGuard {
      cublasLtMatmulPreference_t p;
      ~PrefGuard() { (void)cublasLtMatmulPreferenceDestroy(p); }
    } pref_guard{pref};
    ICCRT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes,
                                                            sizeof(ws_bytes)),
                       "gemm preference");
    // The defaults assume 256-byte aligned matrices; views that start mid-buffer need algorithms that cope.
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_c},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_c}};
    for (const auto& [attr, value] : aligns)
      ICCRT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)), "gemm preference");
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle, op_desc, la.desc, lb.desc, lc.desc, lc.desc,
                                                             pref, 1, &result, &found);
    if (st == CUBLAS_STATUS_NOT_SUPPORTED || (st == CUBLAS_STATUS_SUCCESS && found == 0)) return false;
    ICCRT_CUBLAS_CHECK(st, "gemm heuristic (", dtype_name(a.dtype), ", m=", a.m, " n=", a.n, " k=", a.k,
                       " batch=", a.batch, ")");
    algo = result.algo;
    std::lock_guard<std::mutex> lock(state().mu);
    if (state().algos.size() > 4096) state().algos.clear();  // bound the cache; shapes rarely vary that much
    state().algos.emplace(key, algo);
  }

  const float alpha_f = static_cast<float>(a.alpha), beta_f = static_cast<float>(a.beta);
  const bool dbl = a.dtype == DType::Float64;
  const void* alpha = dbl ? static_cast<const void*>(&a.alpha) : &alpha_f;
  const void* beta = dbl ? static_cast<const void*>(&a.beta) : &beta_f;
  ICCRT_CUBLAS_CHECK(cublasLtMatmul(handle, op_desc, alpha, a.b, la.desc, a.a, lb.desc, beta, a.c, lc.desc, a.c,
                                    lc.desc, &algo, ws, ws_bytes, stream),
                     "gemm (", dtype_name(a.dtype), ", m=", a.m, " n=", a.n, " k=", a.k, " batch=", a.batch, ")");
  return true;
}

[[noreturn]] void no_algorithm(const GemmArgs& a) {
  ::iccrt::detail::throw_error<Error>(::iccrt::detail::str(
      "cuBLASLt has no algorithm for this gemm (", dtype_name(a.dtype), ", m=", a.m, " n=", a.n, " k=", a.k,
      " batch=", a.batch, ", lda=", a.lda, " ldb=", a.ldb, " ldc=", a.ldc, ", trans_a=", a.trans_a,
      " trans_b=", a.trans_b, ")"));
}

}  // namespace

void gemm(const GemmArgs& args, bool allow_tf32, Stream stream) {
  GemmArgs a = args;
  if (a.m <= 0 || a.n <= 0 || a.batch <= 0) return;
  const cudaStream_t s = detail::as_stream(stream);
  if (a.k <= 0) return scale_c(a, s);
  // A batch of row blocks that share B is one tall GEMM: (batch*m)×k @ k×n, which cuBLASLt tiles better.
  if (a.batch > 1 && a.stride_b == 0 && !a.trans_a && a.stride_a == a.m * a.lda && a.stride_c == a.m * a.ldc) {
    a.m *= a.batch;
    a.batch = 1;
    a.stride_a = a.stride_c = 0;
  }
  if (a.batch == 1) a.stride_a = a.stride_b = a.stride_c = 0;
  if (run_lt(a, allow_tf32, s)) return;
  if (a.batch == 1) no_algorithm(a);
  // Some strided-batch layouts (a batch stride of 0, say) have no algorithm on some GPUs: one GEMM per batch.
  const int64_t isz = itemsize(a.dtype);
  for (int64_t b = 0; b < a.batch; ++b) {
    GemmArgs one = a;
    one.batch = 1;
    one.a = static_cast<const char*>(a.a) + b * a.stride_a * isz;
    one.b = static_cast<const char*>(a.b) + b * a.stride_b * isz;
    one.c = static_cast<char*>(a.c) + b * a.stride_c * isz;
    one.stride_a = one.stride_b = one.stride_c = 0;
    if (!run_lt(one, allow_tf32, s)) no_algorithm(one);
  }
}

}  // namespace iccrt::kernels::cuda
