#pragma once
// OpenMP helpers for the CPU kernels. Builds without -fopenmp get the same functions running serially, so no
// kernel needs its own #ifdef.
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace iccrt::kernels::cpu::detail {

// Below about this many elements of simple work (an add, a copy) the cost of waking threads outweighs the gain.
constexpr int64_t kParallelGrain = 32768;

// Threads available to a new parallel region here: 1 inside one already running, so that kernels called from
// a parallel region (or from each other) do not nest.
inline int max_threads() {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

// How many chunks of at least `grain` work items to cut `n` into.
inline int num_chunks(int64_t n, int64_t grain) {
  const int64_t by_size = n / std::max<int64_t>(grain, 1);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(max_threads(), by_size)));
}

// Calls f(chunk, begin, end) for `chunks` contiguous, near-equal pieces of [0, n), one per thread. Contiguous
// pieces (not interleaved) keep each thread streaming through its own region of memory, and a fixed split
// makes per-chunk partial results combine in the same order on every run.
template <class F>
void parallel_chunks(int64_t n, int chunks, const F& f) {
  if (n <= 0) return;
  if (chunks <= 1) {
    f(0, int64_t{0}, n);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for num_threads(chunks) schedule(static, 1)
  for (int c = 0; c < chunks; ++c) {
    f(c, n * c / chunks, n * (c + 1) / chunks);
  }
#else
  for (int c = 0; c < chunks; ++c) f(c, n * c / chunks, n * (c + 1) / chunks);
#endif
}

// f(begin, end) over [0, n), split across threads when n is large enough to pay for them.
template <class F>
void parallel_for(int64_t n, int64_t grain, const F& f) {
  parallel_chunks(n, num_chunks(n, grain), [&](int, int64_t b, int64_t e) { f(b, e); });
}

}  // namespace iccrt::kernels::cpu::detail
