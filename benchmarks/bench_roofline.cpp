// The machine's own ceilings, measured in the same run as the iccrt kernels they bound:
//  - fp32 FMA throughput: independent FMA chains on every thread (AVX2, and AVX-512 where the CPU has it);
//  - memory bandwidth: memcpy and a plain copy loop, single-threaded and on as many threads as iccrt uses;
//  - iccrt's elementwise add (out of place, which allocates, and in place) and copy_ against those.
// Bytes counted: add = 3 x N x 4 (two reads, one write), copy = 2 x N x 4. Write-allocate traffic is not
// counted for anyone, so the ratios are fair even though the absolute numbers understate the bus traffic.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "iccrt/core/generator.hpp"
#include "iccrt/autograd/functions.hpp"
#include "iccrt/ops/elementwise.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

// The thread count iccrt's kernels use (OpenMP's), so anchors and iccrt compare like for like.
int bench_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
#endif
}

template <class F>
void run_threads(int n, const F& f) {
  if (n <= 1) {
    f(0, 1);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(n)
  f(omp_get_thread_num(), omp_get_num_threads());
#else
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i) ts.emplace_back([&, i] { f(i, n); });
  for (auto& t : ts) t.join();
#endif
}

// ---- fp32 FMA peak --------------------------------------------------------------------------------------------

constexpr int kChains = 12;  // > latency (4) x FMA ports (2): enough independent chains to saturate the units
constexpr int64_t kFmaIters = int64_t{1} << 21;

// acc = acc * a + b converges to a fixed point near 1: no overflow, no denormals.
__attribute__((target("avx2,fma"))) float fma_avx2(int64_t iters) {
  __m256 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm256_set1_ps(0.1f * j);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < kChains; ++j) acc[j] = _mm256_fmadd_ps(acc[j], a, b);
  }
  __m256 s = acc[0];
  for (int j = 1; j < kChains; ++j) s = _mm256_add_ps(s, acc[j]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

__attribute__((target("avx512f"))) float fma_avx512(int64_t iters) {
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm512_set1_ps(0.1f * j);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < kChains; ++j) acc[j] = _mm512_fmadd_ps(acc[j], a, b);
  }
  __m512 s = acc[0];
  for (int j = 1; j < kChains; ++j) s = _mm512_add_ps(s, acc[j]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0] + out[15];
}

template <int kLanes>
void BM_FmaPeak(benchmark::State& st) {
  const int threads = static_cast<int>(st.range(0));
  std::vector<float> sink(static_cast<size_t>(threads));
  // Read through a volatile so the compiler cannot hoist the (pure) FMA loop out of the timing loop.
  volatile int64_t iters = kFmaIters;
  for (auto _ : st) {
    run_threads(threads, [&](int tid, int) {
      const int64_t n = iters;
      sink[tid] = kLanes == 16 ? fma_avx512(n) : fma_avx2(n);
    });
    benchmark::DoNotOptimize(sink.data());
  }
  st.counters["flops"] = benchmark::Counter(2.0 * kLanes * kChains * static_cast<double>(kFmaIters) * threads,
                                            benchmark::Counter::kIsIterationInvariantRate);
  st.counters["threads"] = threads;
}

// ---- bandwidth ------------------------------------------------------------------------------------------------

constexpr int64_t kN = int64_t{1} << 24;  // 16M floats = 64 MiB per array, twice the L3 of most servers

struct Buffers {
  float *a, *b, *c;
  Buffers() {
    a = alloc();
    b = alloc();
    c = alloc();
    // First touch on the threads that will stream through them.
    run_threads(bench_threads(), [&](int tid, int nt) {
      const int64_t lo = kN * tid / nt, hi = kN * (tid + 1) / nt;
      for (int64_t i = lo; i < hi; ++i) a[i] = static_cast<float>(i % 1000), b[i] = 1.0f, c[i] = 0.0f;
    });
  }
  static float* alloc() { return static_cast<float*>(std::aligned_alloc(64, kN * sizeof(float))); }
  ~Buffers() {
    std::free(a);
    std::free(b);
    std::free(c);
  }
};
Buffers& buffers() {
  static Buffers b;
  return b;
}

void set_bytes(benchmark::State& st, int64_t streams) {
  st.SetBytesProcessed(st.iterations() * streams * kN * static_cast<int64_t>(sizeof(float)));
  st.counters["threads"] = static_cast<double>(st.range(0));
}

void BM_Memcpy(benchmark::State& st) {
  Buffers& buf = buffers();
  const int threads = static_cast<int>(st.range(0));
  for (auto _ : st) {
    run_threads(threads, [&](int tid, int nt) {
      const int64_t lo = kN * tid / nt, hi = kN * (tid + 1) / nt;
      std::memcpy(buf.c + lo, buf.a + lo, static_cast<size_t>(hi - lo) * sizeof(float));
    });
    benchmark::ClobberMemory();
  }
  set_bytes(st, 2);
}

void BM_CopyLoop(benchmark::State& st) {
  Buffers& buf = buffers();
  const int threads = static_cast<int>(st.range(0));
  for (auto _ : st) {
    run_threads(threads, [&](int tid, int nt) {
      const int64_t lo = kN * tid / nt, hi = kN * (tid + 1) / nt;
      float* __restrict c = buf.c;
      const float* __restrict a = buf.a;
      for (int64_t i = lo; i < hi; ++i) c[i] = a[i];
    });
    benchmark::ClobberMemory();
  }
  set_bytes(st, 2);
}

void BM_AddLoop(benchmark::State& st) {
  Buffers& buf = buffers();
  const int threads = static_cast<int>(st.range(0));
  for (auto _ : st) {
    run_threads(threads, [&](int tid, int nt) {
      const int64_t lo = kN * tid / nt, hi = kN * (tid + 1) / nt;
      float* __restrict c = buf.c;
      const float* __restrict a = buf.a;
      const float* __restrict b = buf.b;
      for (int64_t i = lo; i < hi; ++i) c[i] = a[i] + b[i];
    });
    benchmark::ClobberMemory();
  }
  set_bytes(st, 3);
}

struct IccrtOperands {
  iccrt::Tensor a, b, c;
  IccrtOperands() {
    iccrt::Generator g(3);
    a = iccrt::rand({kN}, iccrt::DType::Float32, &g);
    b = iccrt::rand({kN}, iccrt::DType::Float32, &g);
    c = iccrt::zeros({kN}, iccrt::DType::Float32);
  }
};
IccrtOperands& iccrt_operands() {
  static IccrtOperands o;
  return o;
}

// Out of place: what `c = a + b` costs a user, output allocation included.
void BM_AddIccrt(benchmark::State& st) {
  IccrtOperands& o = iccrt_operands();
  for (auto _ : st) {
    iccrt::Tensor c = iccrt::add(o.a, o.b);
    benchmark::DoNotOptimize(c.data_ptr());
  }
  set_bytes(st, 3);
}

// In place into a warm buffer: the kernel alone (reads c and b, writes c).
void BM_AddInplaceIccrt(benchmark::State& st) {
  IccrtOperands& o = iccrt_operands();
  for (auto _ : st) {
    iccrt::add_(o.c, o.b);
    benchmark::ClobberMemory();
  }
  set_bytes(st, 3);
}

void BM_CopyIccrt(benchmark::State& st) {
  IccrtOperands& o = iccrt_operands();
  for (auto _ : st) {
    o.c.copy_(o.a);
    benchmark::ClobberMemory();
  }
  set_bytes(st, 2);
}

}  // namespace

void register_roofline_benchmarks() {
  const int nt = bench_threads();
  std::vector<int> counts = {1};
  if (nt > 1) counts.push_back(nt);
  auto setup = [](benchmark::internal::Benchmark* b) {
    b->UseRealTime();
    b->Unit(benchmark::kMillisecond);
    b->MinTime(0.3);
    return b;
  };
  for (int t : counts) setup(benchmark::RegisterBenchmark("BM_FmaPeakAvx2", BM_FmaPeak<8>))->Arg(t)->ArgName("threads");
  if (__builtin_cpu_supports("avx512f")) {
    for (int t : counts)
      setup(benchmark::RegisterBenchmark("BM_FmaPeakAvx512", BM_FmaPeak<16>))->Arg(t)->ArgName("threads");
  }
  // iccrt runs on `nt` threads (its kernels use OpenMP's default); the anchors run on 1 and on `nt`.
  setup(benchmark::RegisterBenchmark("BM_AddIccrt", BM_AddIccrt))->Arg(nt)->ArgName("threads");
  setup(benchmark::RegisterBenchmark("BM_AddInplaceIccrt", BM_AddInplaceIccrt))->Arg(nt)->ArgName("threads");
  setup(benchmark::RegisterBenchmark("BM_CopyIccrt", BM_CopyIccrt))->Arg(nt)->ArgName("threads");
  for (int t : counts) {
    setup(benchmark::RegisterBenchmark("BM_AddLoop", BM_AddLoop))->Arg(t)->ArgName("threads");
    setup(benchmark::RegisterBenchmark("BM_CopyLoop", BM_CopyLoop))->Arg(t)->ArgName("threads");
    setup(benchmark::RegisterBenchmark("BM_Memcpy", BM_Memcpy))->Arg(t)->ArgName("threads");
  }
}
