#pragma once
// Arguments of the model kernels (kernels/cpu/nn_kernels.hpp, kernels/cuda/nn_kernels.hpp). Every buffer is
// contiguous and row-major; the ops layer (src/ops/nn_*.cpp) makes copies where a view is not.
// "stat" buffers (mean, rstd, lse, and the accumulators named below) have dtype stat_dtype(dtype):
// float64 for float64 data, float32 otherwise.
#include <cstdint>

#include "iccrt/core/dtype.hpp"

namespace iccrt::kernels {

inline constexpr DType stat_dtype(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }

// x viewed as [outer, n, inner]; softmax along n.
struct SoftmaxArgs {
  const void* x = nullptr;   // forward input  | backward: grad_out
  const void* y = nullptr;   // backward: the forward output
  void* out = nullptr;       // forward: y     | backward: grad_in
  DType dtype = DType::Float32;
  int64_t outer = 0, n = 0, inner = 1;
  bool log = false;          // log_softmax
};

// x viewed as [rows, cols]; normalised along cols. weight / bias: [cols] or null. mean / rstd: [rows] stat.
struct NormArgs {
  const void* x = nullptr;
  const void* weight = nullptr;
  const void* bias = nullptr;
  void* y = nullptr;
  void* mean = nullptr;   // null for rms_norm
  void* rstd = nullptr;
  DType dtype = DType::Float32;
  int64_t rows = 0, cols = 0;
  double eps = 1e-5;
  bool rms = false;
  // backward only
  const void* grad_out = nullptr;
  void* grad_in = nullptr;      // null: not needed
  void* grad_weight = nullptr;  // [cols] stat, zeroed by the caller, accumulated into; null: not needed
  void* grad_bias = nullptr;    // [cols] stat, zeroed by the caller, accumulated into; null: not needed
};

// weight [num, dim]; indices [n] of index_dtype (int64 or int32), all already checked to lie in [0, num).
struct EmbeddingArgs {
  const void* weight = nullptr;     // forward
  const void* indices = nullptr;
  DType index_dtype = DType::Int64;
  void* out = nullptr;              // forward: [n, dim]
  const void* grad_out = nullptr;   // backward: [n, dim]
  void* grad_weight = nullptr;      // backward: [num, dim] stat, zeroed by the caller, accumulated into
  DType dtype = DType::Float32;     // of weight / out / grad_out
  int64_t n = 0, num = 0, dim = 0;
  int64_t padding_idx = -1;         // backward: rows with this index get no gradient (< 0: none)
};

// logits [n, c]; target int64 [n]; ignored rows have target == ignore_index (others already checked in [0, c)).
struct CrossEntropyArgs {
  const void* logits = nullptr;
  const int64_t* target = nullptr;
  void* loss_rows = nullptr;        // forward: [n] stat, per-row loss (0 for ignored rows)
  void* lse = nullptr;              // forward: [n] stat (written);  backward: read
  const void* row_scale = nullptr;  // backward: [n] stat, d loss / d loss_row (already 0 for ignored rows)
  void* grad_logits = nullptr;      // backward: [n, c] of dtype
  DType dtype = DType::Float32;
  int64_t n = 0, c = 0;
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
};

// q [batch, tq, d], k [batch, tk, d], v [batch, tk, dv], out [batch, tq, dv], lse [batch, tq] stat.
// causal: query i sees keys j <= i + (tk - tq). A query that sees no key gets out = 0 and lse = -inf.
struct AttentionArgs {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;   // forward: written;  backward: read
  void* lse = nullptr;   // forward: written;  backward: read
  DType dtype = DType::Float32;
  int64_t batch = 0, tq = 0, tk = 0, d = 0, dv = 0;
  double scale = 1.0;
  bool causal = false;
  // backward only: grads in stat dtype, zeroed by the caller (kernels may accumulate into them)
  const void* grad_out = nullptr;
  void* grad_q = nullptr;
  void* grad_k = nullptr;
  void* grad_v = nullptr;
};

// Mask rule shared by CPU and CUDA: element i is kept iff philox_uniform_f32(philox_word(seed, offset, i)) >= p;
// kept elements are scaled by 1 / (1 - p) (p == 1 keeps none).
struct DropoutArgs {
  const void* in = nullptr;  // forward: x | backward: grad_out
  void* out = nullptr;
  DType dtype = DType::Float32;
  int64_t n = 0;
  double p = 0.5;
  uint64_t seed = 0, offset = 0;
};

// NCHW convolution geometry (shared by forward and both backward passes).
struct ConvArgs {
  int64_t n = 0, c = 0, h = 0, w = 0;       // input
  int64_t o = 0, kh = 0, kw = 0;            // weight [o, c / groups, kh, kw]
  int64_t oh = 0, ow = 0;                   // output
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
  DType dtype = DType::Float32;
};

// x viewed as [planes, h, w] -> out / indices [planes, oh, ow]; indices are int64 h * w_in + w of the max.
struct PoolArgs {
  int64_t planes = 0, h = 0, w = 0, oh = 0, ow = 0;
  int64_t kh = 2, kw = 2, stride_h = 2, stride_w = 2, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  DType dtype = DType::Float32;
};

// In-place AdamW on n contiguous elements; grad of the same dtype as param.
struct AdamWArgs {
  void* param = nullptr;
  const void* grad = nullptr;
  void* exp_avg = nullptr;
  void* exp_avg_sq = nullptr;
  DType dtype = DType::Float32;
  int64_t n = 0;
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
  int64_t step = 1;
  bool maximize = false;
};

}  // namespace iccrt::kernels
