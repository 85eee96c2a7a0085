// Embedding lookup (a row gather) and its backward (a scatter-add of gradient rows into a stat-dtype
// accumulator). The backward splits the embedding dim across threads: every thread walks all indices in order
// over its own columns, so no two threads touch one element and repeated indices add in index order — the
// same result on every run, without atomics.
#include <cstring>
#include <vector>

#include "kernels/cpu/half_block.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cpu/parallel.hpp"

namespace iccrt::kernels::cpu {
namespace {

template <class I>
void gather(const EmbeddingArgs& a) {
  const I* idx = static_cast<const I*>(a.indices);
  const int64_t row_bytes = a.dim * itemsize(a.dtype);
  const char* w = static_cast<const char*>(a.weight);
  char* out = static_cast<char*>(a.out);
  const int64_t grain = std::max<int64_t>(1, detail::kParallelGrain / std::max<int64_t>(a.dim, 1));
  detail::parallel_for(a.n, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      std::memcpy(out + i * row_bytes, w + static_cast<int64_t>(idx[i]) * row_bytes, static_cast<size_t>(row_bytes));
    }
  });
}

template <class T, class I>
void scatter_add(const EmbeddingArgs& a) {
  using M = opmath_t<T>;  // the stat type
  const I* idx = static_cast<const I*>(a.indices);
  const T* g = static_cast<const T*>(a.grad_out);
  M* gw = static_cast<M*>(a.grad_weight);
  const int64_t dim = a.dim;
  // At least 64 columns per thread, so each one still adds whole cache lines.
  const int chunks = detail::num_chunks(a.n * dim, detail::kParallelGrain);
  const int col_chunks = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(chunks, dim / 64)));
  detail::parallel_chunks(dim, col_chunks, [&](int, int64_t c0, int64_t c1) {
    const int64_t w = c1 - c0;
    std::vector<float> buf(detail::is_half_like<T> ? static_cast<size_t>(w) : 0);
    for (int64_t i = 0; i < a.n; ++i) {
      const int64_t row = static_cast<int64_t>(idx[i]);
      if (row == a.padding_idx) continue;
      M* dst = gw + row * dim + c0;
      const T* src = g + i * dim + c0;
      if constexpr (detail::is_half_like<T>) {
        detail::to_float(src, buf.data(), w);
        for (int64_t j = 0; j < w; ++j) dst[j] += buf[j];
      } else {
        for (int64_t j = 0; j < w; ++j) dst[j] += src[j];
      }
    }
  });
}

template <class F>
void dispatch_index(DType t, const F& f) {
  if (t == DType::Int32) {
    f(TypeTag<int32_t>{});
  } else {
    ICCRT_ASSERT(t == DType::Int64, "embedding: index dtype ", dtype_name(t));
    f(TypeTag<int64_t>{});
  }
}

}  // namespace

void embedding_forward(const EmbeddingArgs& a) {
  if (a.n <= 0 || a.dim <= 0) return;
  dispatch_index(a.index_dtype, [&](auto itag) { gather<typename decltype(itag)::type>(a); });
}

void embedding_backward(const EmbeddingArgs& a) {
  if (a.n <= 0 || a.dim <= 0) return;
  dispatch_floating(a.dtype, "embedding_backward", [&](auto tag) {
    dispatch_index(a.index_dtype,
                   [&](auto itag) { scatter_add<typename decltype(tag)::type, typename decltype(itag)::type>(a); });
  });
}

}  // namespace iccrt::kernels::cpu
