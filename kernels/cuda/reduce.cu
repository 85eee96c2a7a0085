// Reductions: Sum, Mean, Var (two passes), Max/Min (with the index of the first extreme element).
//
// Note [Reduction layout]
// A block of 256 threads is a bx × by grid: bx outputs, each reduced by by threads that stride through the
// reduced index space; the by partials are then merged with warp shuffles and, across warps, shared memory.
// Which of x and y varies fastest across the lanes of a warp follows the memory layout, so that a warp's loads
// are contiguous:
//   - y fastest when the reduced dims are innermost in memory (sum over the last dim): lanes read consecutive
//     elements of one row; many short rows put several outputs in one warp;
//   - x fastest when the outputs are innermost (sum over dim 0 of [N, C]): lanes read consecutive outputs of one
//     reduced row, and each thread walks down its column.
// When there are too few outputs to fill the GPU (a full reduction has one), the reduced range is also split
// over gridDim.y blocks; their partial accumulators go to a temporary buffer that a second kernel, one warp per
// output, merges in a fixed order, so results do not depend on timing. The reducers are in reducers.cuh.
#include <algorithm>
#include <cstdlib>

#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/cuda_utils.cuh"
#include "kernels/cuda/reducers.cuh"

namespace iccrt::kernels::cuda {
namespace {

using detail::OffsetCalc;

constexpr int kThreads = 256;
constexpr int kMinPerThread = 16;  // reduced elements each thread should at least see before splitting pays

template <class index_t>
struct ReduceParams {
  OffsetCalc<2, index_t> out_calc;  // operand 0: input offset, operand 1: output offset
  OffsetCalc<1, index_t> red_calc;
  index_t out_numel = 0, red_numel = 0;
  index_t chunk = 0;  // reduced elements per blockIdx.y
  int bx = 1, by = 1;
  bool y_fast = true;
  const char* in = nullptr;
  char* out = nullptr;
  int64_t* index = nullptr;
  DType out_dtype = DType::Float32;
  void* partials = nullptr;  // gridDim.y × out_numel accumulators when the reduced range is split
};

template <class T, class R, class index_t>
__global__ void __launch_bounds__(kThreads) reduce_kernel(ReduceParams<index_t> p, R red) {
  using acc_t = typename R::acc_t;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  acc_t* smem = reinterpret_cast<acc_t*>(smem_raw);

  const int tid = threadIdx.x;
  const int x = p.y_fast ? tid / p.by : tid % p.bx;
  const int y = p.y_fast ? tid % p.by : tid / p.bx;
  const int ys = p.y_fast ? 1 : p.bx;                         // lane distance between consecutive y
  const int wy = ys >= 32 ? 1 : (p.by < 32 / ys ? p.by : 32 / ys);  // y values within one warp
  const int rows = p.by / wy;                                  // warp partials per output
  const index_t r_begin = static_cast<index_t>(blockIdx.y) * p.chunk;
  const index_t r_end = r_begin + p.chunk < p.red_numel ? r_begin + p.chunk : p.red_numel;

  // Every thread runs every iteration (no early exit): the shuffles below need full warps.
  for (index_t base = static_cast<index_t>(blockIdx.x) * p.bx; base < p.out_numel;
       base += static_cast<index_t>(gridDim.x) * p.bx) {
    const index_t o = base + x;
    const bool valid = o < p.out_numel;
    acc_t acc = red.identity();
    if (valid) {
      const T* in = reinterpret_cast<const T*>(p.in) + p.out_calc.get(o)[0];
      const auto ctx = red.context(o);
      for (index_t r = r_begin + y; r < r_end; r += p.by) acc = red.step(acc, in[p.red_calc.get(r)[0]], r, ctx);
    }
    for (int k = wy / 2; k >= 1; k >>= 1) acc = red.combine(acc, red.shfl(acc, k * ys));
    if (rows > 1) {
      if (y % wy == 0) smem[x * rows + y / wy] = acc;
      __syncthreads();
      if (y == 0) {
        for (int j = 1; j < rows; ++j) acc = red.combine(acc, smem[x * rows + j]);
      }
      __syncthreads();  // smem is rewritten by the next iteration
    }
    if (y == 0 && valid) {
      if (gridDim.y == 1) {
        red.finalize(acc, o, p.out, p.out_calc.get(o)[1], p.out_dtype, p.index);
      } else {
        reinterpret_cast<acc_t*>(p.partials)[static_cast<int64_t>(blockIdx.y) * p.out_numel + o] = acc;
      }
    }
  }
}

// Merges the gridDim.y partials of each output (one warp per output, lanes in a fixed order) and finalizes.
template <class R, class index_t>
__global__ void __launch_bounds__(kThreads) reduce_merge_kernel(ReduceParams<index_t> p, R red, int splits) {
  using acc_t = typename R::acc_t;
  const acc_t* part = reinterpret_cast<const acc_t*>(p.partials);
  const int lane = threadIdx.x % 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; o < p.out_numel;
       o += warps) {  // o is warp-uniform, so whole warps stay together
    acc_t acc = red.identity();
    for (int s = lane; s < splits; s += 32) acc = red.combine(acc, part[s * static_cast<int64_t>(p.out_numel) + o]);
    for (int k = 16; k >= 1; k >>= 1) acc = red.combine(acc, red.shfl(acc, k));
    if (lane == 0) red.finalize(acc, o, p.out, p.out_calc.get(static_cast<index_t>(o))[1], p.out_dtype, p.index);
  }
}

// RAII for stream-ordered temporary memory (cudaMallocAsync): freed in stream order, so no synchronisation.
class StreamBuffer {
 public:
  StreamBuffer(size_t bytes, cudaStream_t s) : stream_(s) {
    if (bytes > 0) ICCRT_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, s), "reduce: allocating ", bytes, " bytes");
  }
  ~StreamBuffer() {
    if (ptr_ != nullptr) (void)cudaFreeAsync(ptr_, stream_);  // cannot fail for a pointer from cudaMallocAsync
  }
  StreamBuffer(const StreamBuffer&) = delete;
  StreamBuffer& operator=(const StreamBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

// Runs one reduction pass with reducer `red`: see Note [Reduction layout].
template <class T, class R, class index_t>
void run_pass(const ReduceArgs& a, const R& red, cudaStream_t s, const char* name) {
  using acc_t = typename R::acc_t;
  ReduceParams<index_t> p;
  const int64_t* out_strides[2] = {a.in_strides_out, a.out_strides};
  const int64_t* red_strides[1] = {a.in_strides_red};
  p.out_calc = detail::make_offset_calc<2, index_t>(a.out_ndim, a.out_shape, out_strides);
  p.red_calc = detail::make_offset_calc<1, index_t>(a.red_ndim, a.red_shape, red_strides);
  const int64_t O = a.out_numel, Rn = a.red_numel;
  p.out_numel = static_cast<index_t>(O);
  p.red_numel = static_cast<index_t>(Rn);
  p.in = a.in;
  p.out = a.out;
  p.index = a.index;
  p.out_dtype = a.out_dtype;

  const bool red_inner = a.red_ndim > 0 && a.in_strides_red[a.red_ndim - 1] == 1;
  const bool out_inner = a.out_ndim > 0 && a.in_strides_out[a.out_ndim - 1] == 1;
  p.y_fast = red_inner || !out_inner || O == 1;
  const int64_t o2 = detail::next_pow2(std::max<int64_t>(O, 1)), r2 = detail::next_pow2(std::max<int64_t>(Rn, 1));
  if (p.y_fast) {
    p.by = static_cast<int>(std::min<int64_t>(r2, kThreads));
    p.bx = static_cast<int>(std::min<int64_t>(kThreads / p.by, o2));
  } else {
    p.by = static_cast<int>(std::min<int64_t>(r2, kThreads / std::min<int64_t>(o2, 32)));
    p.bx = static_cast<int>(std::min<int64_t>(kThreads / p.by, o2));
  }
  if (p.bx * p.by < 32) (p.y_fast ? p.bx : p.by) = 32 / (p.y_fast ? p.by : p.bx);  // full warps for the shuffles
  const int threads = p.bx * p.by;

  const int sms = detail::sm_count();
  const int64_t grid_x = std::min<int64_t>((O + p.bx - 1) / p.bx, static_cast<int64_t>(sms) * 32);
  const int64_t target = static_cast<int64_t>(sms) * 8;  // blocks that keep every SM busy
  int64_t splits = 1;
  if (grid_x < target) {
    splits = std::min<int64_t>((target + grid_x - 1) / grid_x, Rn / (static_cast<int64_t>(p.by) * kMinPerThread));
    splits = std::clamp<int64_t>(splits, 1, 65535);
  }
  const int64_t chunk = (std::max<int64_t>(Rn, 1) + splits - 1) / splits;
  splits = (std::max<int64_t>(Rn, 1) + chunk - 1) / chunk;
  p.chunk = static_cast<index_t>(chunk);

  StreamBuffer partials(splits > 1 ? static_cast<size_t>(splits * O) * sizeof(acc_t) : 0, s);
  p.partials = partials.get();
  const int ys = p.y_fast ? 1 : p.bx;
  const int wy = ys >= 32 ? 1 : std::min(p.by, 32 / ys);
  const int rows = p.by / wy;
  const size_t smem = rows > 1 ? static_cast<size_t>(p.bx) * rows * sizeof(acc_t) : 0;
  const dim3 grid(static_cast<unsigned>(grid_x), static_cast<unsigned>(splits));
  detail::launch(name, reduce_kernel<T, R, index_t>, grid, threads, smem, s, p, red);
  if (splits > 1) {
    const int64_t blocks = std::min<int64_t>((O + kThreads / 32 - 1) / (kThreads / 32), static_cast<int64_t>(sms) * 32);
    detail::launch(name, reduce_merge_kernel<R, index_t>, static_cast<unsigned>(blocks), kThreads, 0, s, p, red,
                   static_cast<int>(splits));
  }
}

// Whether every index and offset of the reduction fits 32-bit arithmetic.
bool fits_int32(const ReduceArgs& a) {
  if (a.out_numel > INT32_MAX || a.red_numel > INT32_MAX) return false;
  int64_t in_extent = 0, out_extent = 0;
  for (int d = 0; d < a.out_ndim; ++d) {
    in_extent += (a.out_shape[d] - 1) * std::abs(a.in_strides_out[d]);
    out_extent += (a.out_shape[d] - 1) * std::abs(a.out_strides[d]);
  }
  for (int d = 0; d < a.red_ndim; ++d) in_extent += (a.red_shape[d] - 1) * std::abs(a.in_strides_red[d]);
  return in_extent <= INT32_MAX && out_extent <= INT32_MAX;
}

template <class T, class R>
void run(const ReduceArgs& a, const R& red, cudaStream_t s, const char* name) {
  if (fits_int32(a)) run_pass<T, R, uint32_t>(a, red, s, name);
  else run_pass<T, R, uint64_t>(a, red, s, name);
}

const char* name_of(ReduceKind k) {
  switch (k) {
    case ReduceKind::Sum: return "reduce_sum";
    case ReduceKind::Mean: return "reduce_mean";
    case ReduceKind::Var: return "reduce_var";
    case ReduceKind::Max: return "reduce_max";
    case ReduceKind::Min: return "reduce_min";
  }
  return "reduce";
}

}  // namespace

void reduce(const ReduceArgs& a, Stream stream) {
  if (a.out_numel <= 0) return;
  const cudaStream_t s = detail::as_stream(stream);
  const char* name = name_of(a.kind);
  switch (a.kind) {
    case ReduceKind::Sum:
      dispatch(a.in_dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        run<T>(a, detail::SumReducer<T>{}, s, name);
      });
      return;
    case ReduceKind::Mean:
    case ReduceKind::Var:
      dispatch_floating(a.in_dtype, name, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using acc_t = detail::sum_acc_t<T>;
        detail::SumReducer<T> mean;
        mean.divisor = static_cast<acc_t>(a.red_numel);
        if (a.kind == ReduceKind::Mean) {
          mean.finish = detail::SumFinish::Mean;
          run<T>(a, mean, s, name);
          return;
        }
        // Two passes, as the CPU kernel does: the mean of each output, then the squared deviations from it.
        StreamBuffer means(static_cast<size_t>(a.out_numel) * sizeof(acc_t), s);
        mean.finish = detail::SumFinish::MeanToBuffer;
        mean.mean_out = static_cast<acc_t*>(means.get());
        run<T>(a, mean, s, name);
        detail::SqDevReducer<T> var;
        var.mean = mean.mean_out;
        var.divisor = static_cast<acc_t>(a.red_numel - a.correction);
        run<T>(a, var, s, name);
      });
      return;
    case ReduceKind::Max:
    case ReduceKind::Min:
      dispatch(a.in_dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        if (a.kind == ReduceKind::Max) run<T>(a, detail::ExtremeReducer<T, true>{}, s, name);
        else run<T>(a, detail::ExtremeReducer<T, false>{}, s, name);
      });
      return;
  }
  ICCRT_ASSERT(false, "unknown reduce kind ", static_cast<int>(a.kind));
}

}  // namespace iccrt::kernels::cuda
