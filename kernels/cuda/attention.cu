// Scaled dot-product attention, flash style: q [batch, tq, d], k [batch, tk, d], v [batch, tk, dv] with d and
// dv up to 128; the tq x tk score matrix is never stored. Arithmetic in float (double for float64 data) on CUDA
// cores; 16-bit inputs are widened once, when their tile is loaded into shared memory.
//
// Note [Attention tiles]
// A block is 256 threads seen as 16 x 16 (ty, tx). In a score tile [BQ queries] x [BK keys] thread (ty, tx)
// owns rows ty + 16 i and columns tx + 16 j, so the 16 threads sharing a row sit in one half-warp and reduce it
// with 4 xor-shuffles. Output columns (of dv, or d) are split the same way: column tx + 16 jj, jj < CV.
// Shared-memory row strides are odd (d | 1, BK + 1) so that 16 threads reading one column of a row-major tile
// hit 16 different banks.
//
// Forward (one block per (batch, query tile), heaviest causal tiles first): for each key tile, S = scale Q K^T,
// masked to -inf where causal hides a key; a running row max m and row sum l of exp(S - m) rescale the output
// accumulator when m grows (online softmax). Key tiles entirely above the causal diagonal are never loaded.
// out = acc / l and lse = m + log l; a query that sees no key gets out = 0 and lse = -inf.
//
// Backward (one block per (batch, key tile), as in FlashAttention-2): with D_i = sum_c dO_ic O_ic precomputed,
// for each query tile that can see the key tile: P = exp(scale Q K^T - lse) (recomputed), dP = dO V^T,
// dS = P * (dP - D). dV += P^T dO and dK += dS^T Q stay in registers (this block owns these keys) and are stored
// at the end; dQ += dS K goes to global memory with atomicAdd (every key tile contributes to it).
#include <algorithm>

#include "kernels/cuda/nn_common.cuh"
#include "kernels/cuda/nn_kernels.hpp"

namespace iccrt::kernels::cuda {
namespace {

using detail::load;
using detail::m_exp;
using detail::m_log;
using detail::neg_inf;

constexpr int kThreads = 256;
constexpr int kMaxHeadDim = 128;

template <class T>
struct AttnParams {
  using A = opmath_t<T>;
  const T* q;
  const T* k;
  const T* v;
  const T* out_in;  // backward: the forward output
  T* out;           // forward
  A* lse;
  const T* grad_out;
  A* grad_q;
  A* grad_k;
  A* grad_v;
  const A* delta;  // backward: [batch * tq]
  int64_t batch, tq, tk;
  int d, dv;
  A scale;
  bool causal;
};

template <class A>
__device__ __forceinline__ A half_warp_max(A v) {
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) {
    const A w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}
template <class A>
__device__ __forceinline__ A half_warp_sum(A v) {
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Shared memory of the forward, in elements of the arithmetic type (see Note [Attention tiles]).
template <int BQ, int BK>
__host__ __device__ constexpr int64_t fwd_smem_elems(int d, int dv) {
  return static_cast<int64_t>(BQ) * (d | 1) + static_cast<int64_t>(d) * (BK + 1) + static_cast<int64_t>(BK) * dv +
         static_cast<int64_t>(BQ) * (BK + 1);
}

template <class T, int BQ, int BK, int CV>
__global__ void __launch_bounds__(kThreads) attn_fwd_kernel(AttnParams<T> p) {
  using A = opmath_t<T>;
  constexpr int RQ = BQ / 16, RK = BK / 16;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int d = p.d, dv = p.dv;
  const int ldq = d | 1, ldk = BK + 1, ldp = BK + 1;
  A* sQ = reinterpret_cast<A*>(smem_raw);  // [BQ][ldq]
  A* sKt = sQ + BQ * ldq;                  // [d][ldk]: K transposed
  A* sV = sKt + d * ldk;                   // [BK][dv]
  A* sP = sV + BK * dv;                    // [BQ][ldp]
  const int tid = static_cast<int>(threadIdx.x), tx = tid & 15, ty = tid >> 4;

  const int64_t tiles = (p.tq + BQ - 1) / BQ;
  const int64_t b = blockIdx.x / tiles;
  const int64_t q0 = (tiles - 1 - static_cast<int64_t>(blockIdx.x) % tiles) * BQ;  // last (causal: largest) first
  const int q_rows = static_cast<int>(p.tq - q0 < BQ ? p.tq - q0 : BQ);
  const T* q = p.q + (b * p.tq + q0) * d;
  const T* k = p.k + b * p.tk * d;
  const T* v = p.v + b * p.tk * dv;
  const int64_t shift = p.tk - p.tq;  // causal: query i sees keys j <= i + shift

  for (int idx = tid; idx < BQ * d; idx += kThreads) {
    const int r = idx / d, c = idx - r * d;
    sQ[r * ldq + c] = r < q_rows ? load(q, static_cast<int64_t>(r) * d + c) : A(0);
  }
  int64_t key_end = p.tk;
  if (p.causal) key_end = std::min<int64_t>(key_end, q0 + q_rows + shift);

  A m[RQ], l[RQ], acc[RQ][CV];
#pragma unroll
  for (int i = 0; i < RQ; ++i) {
    m[i] = neg_inf<A>();
    l[i] = A(0);
#pragma unroll
    for (int jj = 0; jj < CV; ++jj) acc[i][jj] = A(0);
  }

  for (int64_t k0 = 0; k0 < key_end; k0 += BK) {
    const int k_rows = static_cast<int>(p.tk - k0 < BK ? p.tk - k0 : BK);
    __syncthreads();  // the previous tile's readers of sKt, sV and sP are done
    for (int idx = tid; idx < BK * d; idx += kThreads) {
      const int r = idx / d, c = idx - r * d;
      sKt[c * ldk + r] = r < k_rows ? load(k, (k0 + r) * d + c) : A(0);
    }
    for (int idx = tid; idx < BK * dv; idx += kThreads) {
      const int r = idx / dv, c = idx - r * dv;
      sV[r * dv + c] = r < k_rows ? load(v, (k0 + r) * dv + c) : A(0);
    }
    __syncthreads();

    A s[RQ][RK];
#pragma unroll
    for (int i = 0; i < RQ; ++i) {
#pragma unroll
      for (int j = 0; j < RK; ++j) s[i][j] = A(0);
    }
    for (int c = 0; c < d; ++c) {
      A qa[RQ], kb[RK];
#pragma unroll
      for (int i = 0; i < RQ; ++i) qa[i] = sQ[(ty + 16 * i) * ldq + c];
#pragma unroll
      for (int j = 0; j < RK; ++j) kb[j] = sKt[c * ldk + tx + 16 * j];
#pragma unroll
      for (int i = 0; i < RQ; ++i) {
#pragma unroll
        for (int j = 0; j < RK; ++j) s[i][j] += qa[i] * kb[j];
      }
    }

#pragma unroll
    for (int i = 0; i < RQ; ++i) {
      const int64_t qi = q0 + ty + 16 * i;
      A tile_max = neg_inf<A>();
#pragma unroll
      for (int j = 0; j < RK; ++j) {
        const int kc = tx + 16 * j;
        const bool visible = kc < k_rows && (!p.causal || k0 + kc <= qi + shift);
        s[i][j] = visible ? s[i][j] * p.scale : neg_inf<A>();
        tile_max = s[i][j] > tile_max ? s[i][j] : tile_max;
      }
      tile_max = half_warp_max(tile_max);
      const A m_new = tile_max > m[i] ? tile_max : m[i];
      A alpha = A(1), row_sum = A(0);
      if (m_new != neg_inf<A>()) {    // else nothing is visible yet: P = 0, and the accumulators stay 0
        alpha = m_exp(m[i] - m_new);  // 0 when m[i] is still -inf
#pragma unroll
        for (int j = 0; j < RK; ++j) {
          s[i][j] = m_exp(s[i][j] - m_new);  // masked: exp(-inf) = 0
          row_sum += s[i][j];
        }
      } else {
#pragma unroll
        for (int j = 0; j < RK; ++j) s[i][j] = A(0);
      }
      row_sum = half_warp_sum(row_sum);
      l[i] = l[i] * alpha + row_sum;
      m[i] = m_new;
#pragma unroll
      for (int jj = 0; jj < CV; ++jj) acc[i][jj] *= alpha;
#pragma unroll
      for (int j = 0; j < RK; ++j) sP[(ty + 16 * i) * ldp + tx + 16 * j] = s[i][j];
    }
    __syncthreads();

    for (int kk = 0; kk < k_rows; ++kk) {
      A pv[RQ];
#pragma unroll
      for (int i = 0; i < RQ; ++i) pv[i] = sP[(ty + 16 * i) * ldp + kk];
#pragma unroll
      for (int jj = 0; jj < CV; ++jj) {
        const int c = tx + 16 * jj;
        if (c < dv) {
          const A vv = sV[kk * dv + c];
#pragma unroll
          for (int i = 0; i < RQ; ++i) acc[i][jj] += pv[i] * vv;
        }
      }
    }
  }

#pragma unroll
  for (int i = 0; i < RQ; ++i) {
    const int r = ty + 16 * i;
    if (r >= q_rows) continue;
    const int64_t row = b * p.tq + q0 + r;
    const bool none = l[i] == A(0);  // no visible key (NaN scores are not "none": they propagate)
    const A inv = none ? A(0) : A(1) / l[i];
#pragma unroll
    for (int jj = 0; jj < CV; ++jj) {
      const int c = tx + 16 * jj;
      if (c < dv) detail::store(p.out, row * dv + c, acc[i][jj] * inv);
    }
    if (tx == 0) p.lse[row] = none ? neg_inf<A>() : m[i] + m_log(l[i]);
  }
}

// D_i = sum_c dO_ic O_ic, one row group per query (Note [Row groups] in nn_common.cuh).
template <class T>
__global__ void __launch_bounds__(detail::kMaxRowThreads)
    attn_delta_kernel(AttnParams<T> p, opmath_t<T>* delta, int group) {
  using A = opmath_t<T>;
  __shared__ A smem[32];
  const int64_t rows = p.batch * p.tq;
  const int64_t row = detail::group_row(group);
  const int lane = detail::group_lane(group);
  const bool valid = row < rows;
  A sum = A(0);
  if (valid) {
    const T* o = p.out_in + row * p.dv;
    const T* g = p.grad_out + row * p.dv;
    for (int c = lane; c < p.dv; c += group) sum += load(g, c) * load(o, c);
  }
  sum = detail::group_reduce(sum, group, smem, detail::SumOp{});
  if (valid && lane == 0) delta[row] = sum;
}

template <int BQ, int BK>
__host__ __device__ constexpr int64_t bwd_smem_elems(int d, int dv) {
  return static_cast<int64_t>(BK) * ((d | 1) + (dv | 1)) + static_cast<int64_t>(BQ) * ((d | 1) + (dv | 1)) +
         2 * static_cast<int64_t>(BQ) * (BK + 1) + 2 * static_cast<int64_t>(BQ);
}

template <class T, int BQ, int BK, int CV>
__global__ void __launch_bounds__(kThreads) attn_bwd_kernel(AttnParams<T> p) {
  using A = opmath_t<T>;
  constexpr int RQ = BQ / 16, RK = BK / 16;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int d = p.d, dv = p.dv;
  const int ldk = d | 1, ldv = dv | 1, ldp = BK + 1;
  A* sK = reinterpret_cast<A*>(smem_raw);  // [BK][ldk]
  A* sV = sK + BK * ldk;                   // [BK][ldv]
  A* sQ = sV + BK * ldv;                   // [BQ][ldk]
  A* sdO = sQ + BQ * ldk;                  // [BQ][ldv]
  A* sP = sdO + BQ * ldv;                  // [BQ][ldp]
  A* sdS = sP + BQ * ldp;                  // [BQ][ldp]
  A* s_lse = sdS + BQ * ldp;               // [BQ]
  A* s_delta = s_lse + BQ;                 // [BQ]
  const int tid = static_cast<int>(threadIdx.x), tx = tid & 15, ty = tid >> 4;

  const int64_t ktiles = (p.tk + BK - 1) / BK;
  const int64_t b = blockIdx.x / ktiles;
  const int64_t k0 = (static_cast<int64_t>(blockIdx.x) % ktiles) * BK;
  const int k_rows = static_cast<int>(p.tk - k0 < BK ? p.tk - k0 : BK);
  const int64_t shift = p.tk - p.tq;  // causal: query i sees keys j <= i + shift
  const T* k = p.k + (b * p.tk + k0) * d;
  const T* v = p.v + (b * p.tk + k0) * dv;
  for (int idx = tid; idx < BK * d; idx += kThreads) {
    const int r = idx / d, c = idx - r * d;
    sK[r * ldk + c] = r < k_rows ? load(k, static_cast<int64_t>(r) * d + c) : A(0);
  }
  for (int idx = tid; idx < BK * dv; idx += kThreads) {
    const int r = idx / dv, c = idx - r * dv;
    sV[r * ldv + c] = r < k_rows ? load(v, static_cast<int64_t>(r) * dv + c) : A(0);
  }

  // Thread (ty, tx) accumulates dK and dV for keys ty + 16 i and columns tx + 16 jj.
  A dk[RK][CV], dvacc[RK][CV];
#pragma unroll
  for (int i = 0; i < RK; ++i) {
#pragma unroll
    for (int jj = 0; jj < CV; ++jj) dk[i][jj] = dvacc[i][jj] = A(0);
  }

  int64_t q_begin = 0;
  if (p.causal) q_begin = std::max<int64_t>(0, k0 - shift) / BQ * BQ;  // earlier queries see none of these keys
  for (int64_t q0 = q_begin; q0 < p.tq; q0 += BQ) {
    const int q_rows = static_cast<int>(p.tq - q0 < BQ ? p.tq - q0 : BQ);
    const int64_t row0 = b * p.tq + q0;
    __syncthreads();  // the previous query tile's readers are done (and sK / sV are loaded, first time round)
    for (int idx = tid; idx < BQ * d; idx += kThreads) {
      const int r = idx / d, c = idx - r * d;
      sQ[r * ldk + c] = r < q_rows ? load(p.q, (row0 + r) * d + c) : A(0);
    }
    for (int idx = tid; idx < BQ * dv; idx += kThreads) {
      const int r = idx / dv, c = idx - r * dv;
      sdO[r * ldv + c] = r < q_rows ? load(p.grad_out, (row0 + r) * dv + c) : A(0);
    }
    for (int r = tid; r < BQ; r += kThreads) {
      s_lse[r] = r < q_rows ? p.lse[row0 + r] : neg_inf<A>();
      s_delta[r] = r < q_rows ? p.delta[row0 + r] : A(0);
    }
    __syncthreads();

    // P and dS for rows ty + 16 i, keys tx + 16 j.
    A s[RQ][RK], dp[RQ][RK];
#pragma unroll
    for (int i = 0; i < RQ; ++i) {
#pragma unroll
      for (int j = 0; j < RK; ++j) s[i][j] = dp[i][j] = A(0);
    }
    for (int c = 0; c < d; ++c) {
      A qa[RQ], kb[RK];
#pragma unroll
      for (int i = 0; i < RQ; ++i) qa[i] = sQ[(ty + 16 * i) * ldk + c];
#pragma unroll
      for (int j = 0; j < RK; ++j) kb[j] = sK[(tx + 16 * j) * ldk + c];
#pragma unroll
      for (int i = 0; i < RQ; ++i) {
#pragma unroll
        for (int j = 0; j < RK; ++j) s[i][j] += qa[i] * kb[j];
      }
    }
    for (int c = 0; c < dv; ++c) {
      A ga[RQ], vb[RK];
#pragma unroll
      for (int i = 0; i < RQ; ++i) ga[i] = sdO[(ty + 16 * i) * ldv + c];
#pragma unroll
      for (int j = 0; j < RK; ++j) vb[j] = sV[(tx + 16 * j) * ldv + c];
#pragma unroll
      for (int i = 0; i < RQ; ++i) {
#pragma unroll
        for (int j = 0; j < RK; ++j) dp[i][j] += ga[i] * vb[j];
      }
    }
#pragma unroll
    for (int i = 0; i < RQ; ++i) {
      const int r = ty + 16 * i;
      const A lse = s_lse[r], delta = s_delta[r];
#pragma unroll
      for (int j = 0; j < RK; ++j) {
        const int kc = tx + 16 * j;
        const bool visible = r < q_rows && kc < k_rows && (!p.causal || k0 + kc <= q0 + r + shift);
        // lse == -inf: the query saw no key at all, so it has no probabilities (exp would give inf).
        const A prob = visible && lse != neg_inf<A>() ? m_exp(s[i][j] * p.scale - lse) : A(0);
        sP[r * ldp + kc] = prob;
        sdS[r * ldp + kc] = prob == A(0) ? A(0) : prob * (dp[i][j] - delta);
      }
    }
    __syncthreads();

    // dV += P^T dO, dK += dS^T Q over this tile's queries.
    for (int r = 0; r < q_rows; ++r) {
      A pr[RK], dsr[RK];
#pragma unroll
      for (int i = 0; i < RK; ++i) {
        pr[i] = sP[r * ldp + ty + 16 * i];
        dsr[i] = sdS[r * ldp + ty + 16 * i];
      }
#pragma unroll
      for (int jj = 0; jj < CV; ++jj) {
        const int c = tx + 16 * jj;
        if (c < dv) {
          const A g = sdO[r * ldv + c];
#pragma unroll
          for (int i = 0; i < RK; ++i) dvacc[i][jj] += pr[i] * g;
        }
        if (c < d) {
          const A qv = sQ[r * ldk + c];
#pragma unroll
          for (int i = 0; i < RK; ++i) dk[i][jj] += dsr[i] * qv;
        }
      }
    }

    // dQ += scale dS K for rows ty + 16 i, columns tx + 16 jj.
    A dq[RQ][CV];
#pragma unroll
    for (int i = 0; i < RQ; ++i) {
#pragma unroll
      for (int jj = 0; jj < CV; ++jj) dq[i][jj] = A(0);
    }
    for (int kc = 0; kc < k_rows; ++kc) {
      A ds[RQ];
#pragma unroll
      for (int i = 0; i < RQ; ++i) ds[i] = sdS[(ty + 16 * i) * ldp + kc];
#pragma unroll
      for (int jj = 0; jj < CV; ++jj) {
        const int c = tx + 16 * jj;
        if (c < d) {
          const A kv = sK[kc * ldk + c];
#pragma unroll
          for (int i = 0; i < RQ; ++i) dq[i][jj] += ds[i] * kv;
        }
      }
    }
#pragma unroll
    for (int i = 0; i < RQ; ++i) {
      const int r = ty + 16 * i;
      if (r >= q_rows) continue;
#pragma unroll
      for (int jj = 0; jj < CV; ++jj) {
        const int c = tx + 16 * jj;
        if (c < d) atomicAdd(p.grad_q + (row0 + r) * d + c, dq[i][jj] * p.scale);
      }
    }
  }

  // This block is the only writer of its keys' dK and dV (zero when no query sees them).
#pragma unroll
  for (int i = 0; i < RK; ++i) {
    const int kc = ty + 16 * i;
    if (kc >= k_rows) continue;
    const int64_t key = b * p.tk + k0 + kc;
#pragma unroll
    for (int jj = 0; jj < CV; ++jj) {
      const int c = tx + 16 * jj;
      if (c < d) p.grad_k[key * d + c] = dk[i][jj] * p.scale;
      if (c < dv) p.grad_v[key * dv + c] = dvacc[i][jj];
    }
  }
}

template <class T>
AttnParams<T> params_of(const AttentionArgs& a) {
  using A = opmath_t<T>;
  AttnParams<T> p{};
  p.q = static_cast<const T*>(a.q);
  p.k = static_cast<const T*>(a.k);
  p.v = static_cast<const T*>(a.v);
  p.out_in = static_cast<const T*>(a.out);
  p.out = static_cast<T*>(a.out);
  p.lse = static_cast<A*>(a.lse);
  p.grad_out = static_cast<const T*>(a.grad_out);
  p.grad_q = static_cast<A*>(a.grad_q);
  p.grad_k = static_cast<A*>(a.grad_k);
  p.grad_v = static_cast<A*>(a.grad_v);
  p.batch = a.batch;
  p.tq = a.tq;
  p.tk = a.tk;
  p.d = static_cast<int>(a.d);
  p.dv = static_cast<int>(a.dv);
  p.scale = static_cast<A>(a.scale);
  p.causal = a.causal;
  return p;
}

void check_head_dims(const AttentionArgs& a, const char* op) {
  ICCRT_CHECK_VALUE(a.d >= 0 && a.dv >= 0 && a.d <= kMaxHeadDim && a.dv <= kMaxHeadDim, op,
                    ": the CUDA kernel supports head dims up to ", kMaxHeadDim, " but got d = ", a.d, ", dv = ", a.dv);
}

unsigned checked_blocks(int64_t blocks, const char* op) {
  ICCRT_CHECK_VALUE(blocks <= INT32_MAX, op, ": ", blocks, " tiles exceed the CUDA grid limit");
  return static_cast<unsigned>(blocks);
}

// Kernels whose tiles need more than the default 48 KiB of dynamic shared memory must opt in (up to 163 KiB on
// sm_80, 227 KiB on sm_90; the tile shapes below stay under 110 KiB at d = dv = 128).
template <class T>
void allow_smem(void (*kernel)(AttnParams<T>), size_t bytes, const char* op) {
  if (bytes <= 48 * 1024) return;
  ICCRT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
                   op, ": allowing ", bytes, " bytes of shared memory per block");
}

template <class T, int BQ, int BK>
void forward_tiles(const AttentionArgs& a, cudaStream_t s, const char* op) {
  const AttnParams<T> p = params_of<T>(a);
  const int64_t blocks = a.batch * ((a.tq + BQ - 1) / BQ);
  if (blocks == 0) return;
  const size_t bytes = static_cast<size_t>(fwd_smem_elems<BQ, BK>(p.d, p.dv)) * sizeof(opmath_t<T>);
  auto kernel = a.dv <= 64 ? attn_fwd_kernel<T, BQ, BK, 4> : attn_fwd_kernel<T, BQ, BK, 8>;
  allow_smem(kernel, bytes, op);
  detail::launch(op, kernel, checked_blocks(blocks, op), kThreads, bytes, s, p);
}

template <class T, int BQ, int BK>
void backward_tiles(const AttentionArgs& a, cudaStream_t s, const char* op) {
  using A = opmath_t<T>;
  AttnParams<T> p = params_of<T>(a);
  const int64_t ktiles = (a.tk + BK - 1) / BK;
  if (a.batch == 0 || ktiles == 0) return;  // no keys: dQ keeps the caller's zeros, dK and dV are empty
  const int64_t rows = a.batch * a.tq;
  detail::StreamScratch delta(static_cast<size_t>(rows) * sizeof(A), s, op);
  p.delta = static_cast<const A*>(delta.get());
  if (rows > 0) {
    const auto l = detail::row_launch(rows, a.dv, op);
    detail::launch(op, attn_delta_kernel<T>, l.grid, l.block, 0, s, p, static_cast<A*>(delta.get()), l.group);
  }
  const size_t bytes = static_cast<size_t>(bwd_smem_elems<BQ, BK>(p.d, p.dv)) * sizeof(A);
  auto kernel = std::max(a.d, a.dv) <= 64 ? attn_bwd_kernel<T, BQ, BK, 4> : attn_bwd_kernel<T, BQ, BK, 8>;
  allow_smem(kernel, bytes, op);
  detail::launch(op, kernel, checked_blocks(a.batch * ktiles, op), kThreads, bytes, s, p);
}

}  // namespace

void attention_forward(const AttentionArgs& a, Stream stream) {
  const char* op = "scaled_dot_product_attention";
  check_head_dims(a, op);
  const cudaStream_t s = detail::as_stream(stream);
  dispatch_floating(a.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, double>) {
      forward_tiles<T, 32, 32>(a, s, op);
    } else {
      forward_tiles<T, 64, 32>(a, s, op);
    }
  });
}

void attention_backward(const AttentionArgs& a, Stream stream) {
  const char* op = "scaled_dot_product_attention_backward";
  check_head_dims(a, op);
  const cudaStream_t s = detail::as_stream(stream);
  dispatch_floating(a.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, double>) {
      backward_tiles<T, 16, 32>(a, s, op);
    } else {
      backward_tiles<T, 32, 32>(a, s, op);
    }
  });
}

}  // namespace iccrt::kernels::cuda
