#pragma once
// The loop structure shared by every reduction kind.
//
// Note [Reduction strategies]
// After dropping size-1 dims and merging dims that are contiguous across the input (and output), a reduction
// takes one of two shapes:
//  * per output: each output walks its reduced elements in runs along the innermost reduced dim. When that dim
//    has input stride 1 (sum over the last dim, or over everything) the run is a contiguous array that the
//    kind's policy sums with several independent accumulators. This is also the fallback for any layout.
//  * columns: the reduced dims are outer and the innermost output dim has input stride 1 (sum over dim 0 of a
//    row-major matrix). Striding down each column would touch a new cache line per element, so instead a block
//    of up to kColumnBlock adjacent outputs is accumulated in a small buffer, one input row segment at a time.
// Either way, many outputs are split across threads by output; few outputs with long reductions split each
// reduction into per-thread partials that are merged in order, so results do not depend on timing, and the
// first-extreme index of max/min stays the first.
//
// A policy supplies the arithmetic: State/init/run/merge/finish for the per-output shape and
// Cols/col_init/col_row/col_merge/col_finish for the column shape (Cols constructed with its column count,
// col_init told the first reduced row of its range) (see reduce_sum.cpp, reduce_minmax.cpp).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/common/kernel_args.hpp"
#include "kernels/cpu/nd_counter.hpp"
#include "kernels/cpu/parallel.hpp"

namespace iccrt::kernels::cpu::detail {

// Columns accumulated together: wide enough that a row-major input is read in long sequential stretches (the
// prefetchers stop at page boundaries), small enough that the accumulators stay in L2.
constexpr int64_t kColumnBlock = 8192;

struct ReduceLayout {
  int64_t out_numel = 0;
  int64_t red_numel = 0;
  // Per output: input offset (off[0]) and output offset (off[1]) of each output, in elements.
  NdCounter<2> outs;
  // Runs along the innermost reduced dim; red_outer walks the reduced dims outside it.
  int64_t run_len = 1, run_stride = 0;
  NdCounter<1> red_outer;
  // Columns: the innermost output dim (input stride 1) and the output dims outside it; red_all walks every
  // reduced element.
  bool columns = false;
  int64_t cols = 1, col_out_stride = 0;
  NdCounter<2> col_outer;
  NdCounter<1> red_all;
};

namespace reduce_internal {

// Drops size-1 dims and merges dim d into d+1 where every stride set agrees that they are one dim. Neither
// changes the row-major flat numbering, which max/min indices are reported in.
template <int K>
int simplify_dims(int ndim, int64_t* shape, int64_t (*strides)[kMaxDims]) {
  int n = 0;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    shape[n] = shape[d];
    for (int k = 0; k < K; ++k) strides[k][n] = strides[k][d];
    ++n;
  }
  int m = 0;
  for (int d = 0; d < n; ++d) {
    if (m > 0) {
      bool mergeable = true;
      for (int k = 0; k < K; ++k) mergeable = mergeable && strides[k][m - 1] == strides[k][d] * shape[d];
      if (mergeable) {
        shape[m - 1] *= shape[d];
        for (int k = 0; k < K; ++k) strides[k][m - 1] = strides[k][d];
        continue;
      }
    }
    shape[m] = shape[d];
    for (int k = 0; k < K; ++k) strides[k][m] = strides[k][d];
    ++m;
  }
  return m;
}

}  // namespace reduce_internal

inline ReduceLayout make_layout(const ReduceArgs& a) {
  ReduceLayout L;
  L.out_numel = a.out_numel;
  L.red_numel = a.red_numel;

  int64_t out_shape[kMaxDims], out_st[2][kMaxDims];
  for (int d = 0; d < a.out_ndim; ++d) {
    out_shape[d] = a.out_shape[d];
    out_st[0][d] = a.in_strides_out[d];
    out_st[1][d] = a.out_strides[d];
  }
  const int out_nd = reduce_internal::simplify_dims<2>(a.out_ndim, out_shape, out_st);

  int64_t red_shape[kMaxDims], red_st[1][kMaxDims];
  for (int d = 0; d < a.red_ndim; ++d) {
    red_shape[d] = a.red_shape[d];
    red_st[0][d] = a.in_strides_red[d];
  }
  const int red_nd = reduce_internal::simplify_dims<1>(a.red_ndim, red_shape, red_st);

  L.outs.ndim = out_nd;
  for (int d = 0; d < out_nd; ++d) {
    L.outs.shape[d] = out_shape[d];
    L.outs.strides[0][d] = out_st[0][d];
    L.outs.strides[1][d] = out_st[1][d];
  }
  L.red_all.ndim = red_nd;
  for (int d = 0; d < red_nd; ++d) {
    L.red_all.shape[d] = red_shape[d];
    L.red_all.strides[0][d] = red_st[0][d];
  }
  if (red_nd > 0) {
    L.run_len = red_shape[red_nd - 1];
    L.run_stride = red_st[0][red_nd - 1];
  }
  L.red_outer = L.red_all;
  L.red_outer.ndim = std::max(red_nd - 1, 0);

  const bool red_contiguous = red_nd > 0 && L.run_stride == 1;
  L.columns = out_nd > 0 && out_st[0][out_nd - 1] == 1 && !red_contiguous && a.red_numel > 0;
  if (L.columns) {
    L.cols = out_shape[out_nd - 1];
    L.col_out_stride = out_st[1][out_nd - 1];
    L.col_outer = L.outs;
    L.col_outer.ndim = out_nd - 1;
  }
  return L;
}

// Calls run(p, stride, len, flat) for the runs covering reduced elements [rb, re) of the output whose input
// starts at `base`; `flat` is the row-major index (over the reduced dims) of p[0].
template <class T, class Run>
void reduce_runs(const ReduceLayout& L, const T* base, int64_t rb, int64_t re, const Run& run) {
  if (rb >= re) return;
  if (L.red_outer.ndim == 0) {  // one reduced dim (the usual case after merging): one run
    run(base + rb * L.run_stride, L.run_stride, re - rb, rb);
    return;
  }
  NdCounter<1> c = L.red_outer;
  c.seek(rb / L.run_len);
  int64_t col = rb % L.run_len;
  for (int64_t pos = rb; pos < re;) {
    const int64_t n = std::min(L.run_len - col, re - pos);
    run(base + c.off[0] + col * L.run_stride, L.run_stride, n, pos);
    pos += n;
    col = 0;
    c.next();
  }
}

// Threads the per-output strategy uses across outputs, and across each output's reduction.
inline int per_output_chunks(const ReduceLayout& L) {
  const int64_t work = L.out_numel * std::max<int64_t>(L.red_numel, 1);
  return static_cast<int>(std::min<int64_t>(num_chunks(work, kParallelGrain), L.out_numel));
}
inline int per_reduction_chunks(const ReduceLayout& L) { return num_chunks(L.red_numel, kParallelGrain); }

// Whether reduce_per_output splits each output's reduction across threads (few outputs, long reductions)
// rather than giving each thread whole outputs.
inline bool per_output_splits(const ReduceLayout& L) {
  const int by_out = per_output_chunks(L);
  return by_out < per_reduction_chunks(L) && by_out < max_threads();
}

template <class T, class P>
void reduce_per_output(const ReduceLayout& L, const T* in, const P& pol) {
  const int64_t R = L.red_numel;
  const int by_out = per_output_chunks(L);
  const int by_red = per_reduction_chunks(L);
  if (!per_output_splits(L)) {
    parallel_chunks(L.out_numel, by_out, [&](int, int64_t ob, int64_t oe) {
      NdCounter<2> oc = L.outs;
      oc.seek(ob);
      for (int64_t o = ob; o < oe; ++o, oc.next()) {
        auto st = pol.init(o);
        reduce_runs(L, in + oc.off[0], 0, R, [&](const T* p, int64_t s, int64_t n, int64_t flat) {
          pol.run(st, p, s, n, flat);
        });
        pol.finish(st, o, oc.off[1]);
      }
    });
    return;
  }
  std::vector<typename P::State> parts(by_red);
  NdCounter<2> oc = L.outs;
  oc.seek(0);
  for (int64_t o = 0; o < L.out_numel; ++o, oc.next()) {
    for (auto& p : parts) p = pol.init(o);
    parallel_chunks(R, by_red, [&](int c, int64_t rb, int64_t re) {
      reduce_runs(L, in + oc.off[0], rb, re, [&](const T* p, int64_t s, int64_t n, int64_t flat) {
        pol.run(parts[c], p, s, n, flat);
      });
    });
    for (int c = 1; c < by_red; ++c) pol.merge(parts[0], parts[c]);
    pol.finish(parts[0], o, oc.off[1]);
  }
}

template <class T, class P>
void reduce_columns(const ReduceLayout& L, const T* in, const P& pol) {
  using Cols = typename P::Cols;
  const int64_t R = L.red_numel;
  const int64_t blocks = (L.cols + kColumnBlock - 1) / kColumnBlock;
  const int64_t items = (L.out_numel / L.cols) * blocks;
  const int64_t block_cols = std::min(L.cols, kColumnBlock);

  // Accumulates reduced rows [rb, re) of item `it` into `buf`.
  auto accumulate = [&](Cols& buf, int64_t in_off, int64_t c0, int64_t n, int64_t rb, int64_t re) {
    if (L.red_all.ndim == 1) {  // the usual case: rows a fixed stride apart
      const int64_t rs = L.red_all.strides[0][0];
      const T* row = in + in_off + c0 + rb * rs;
      for (int64_t r = rb; r < re; ++r, row += rs) pol.col_row(buf, row, n, r);
      return;
    }
    NdCounter<1> rc = L.red_all;
    rc.seek(rb);
    for (int64_t r = rb; r < re; ++r, rc.next()) pol.col_row(buf, in + in_off + c0 + rc.off[0], n, r);
  };
  struct Item {
    int64_t o0, in_off, out_off, c0, n;
  };
  auto item = [&](int64_t it) {
    const int64_t outer = it / blocks, c0 = (it % blocks) * kColumnBlock;
    NdCounter<2> oc = L.col_outer;
    oc.seek(outer);
    return Item{outer * L.cols + c0, oc.off[0], oc.off[1] + c0 * L.col_out_stride, c0,
                std::min(kColumnBlock, L.cols - c0)};
  };

  const int by_item =
      static_cast<int>(std::min<int64_t>(num_chunks(L.out_numel * R, kParallelGrain), items));
  const int by_red = static_cast<int>(std::min<int64_t>(num_chunks(R * block_cols, kParallelGrain), R));
  if (by_item >= by_red || by_item >= max_threads()) {
    parallel_chunks(items, by_item, [&](int, int64_t ib, int64_t ie) {
      auto buf = std::make_unique<Cols>(block_cols);
      for (int64_t it = ib; it < ie; ++it) {
        const Item m = item(it);
        pol.col_init(*buf, m.o0, m.n, 0);
        accumulate(*buf, m.in_off, m.c0, m.n, 0, R);
        pol.col_finish(*buf, m.o0, m.out_off, L.col_out_stride, m.n);
      }
    });
    return;
  }
  std::vector<std::unique_ptr<Cols>> parts(by_red);
  for (auto& p : parts) p = std::make_unique<Cols>(block_cols);
  for (int64_t it = 0; it < items; ++it) {
    const Item m = item(it);
    parallel_chunks(R, by_red, [&](int c, int64_t rb, int64_t re) {
      pol.col_init(*parts[c], m.o0, m.n, rb);
      accumulate(*parts[c], m.in_off, m.c0, m.n, rb, re);
    });
    for (int c = 1; c < by_red; ++c) pol.col_merge(*parts[0], *parts[c], m.n);
    pol.col_finish(*parts[0], m.o0, m.out_off, L.col_out_stride, m.n);
  }
}

// Stores v into element `off` of an array of dtype t (the output dtype of a sum may differ from the input's).
template <class V>
void store_as(DType t, char* out, int64_t off, V v) {
  dispatch(t, [&](auto tag) {
    using O = typename decltype(tag)::type;
    reinterpret_cast<O*>(out)[off] = static_cast<O>(static_cast<opmath_t<O>>(v));
  });
}

// Runs the strategy make_layout chose.
template <class T, class P>
void run_reduction(const ReduceLayout& L, const T* in, const P& pol) {
  if (L.columns) {
    reduce_columns(L, in, pol);
  } else {
    reduce_per_output(L, in, pol);
  }
}

// The kinds, each dispatching the input dtype to a policy and calling run_reduction.
void reduce_sum_mean_var(const ReduceArgs& a, const ReduceLayout& L);  // reduce_sum.cpp
void reduce_max_min(const ReduceArgs& a, const ReduceLayout& L);       // reduce_minmax.cpp

}  // namespace iccrt::kernels::cpu::detail
