// fp32 GEMM: iccrt::matmul next to raw cblas_sgemm on the same sizes, in the same process.
// Counter "flops" is FLOP/s (2*M*N*K per call). iccrt::matmul allocates its output on every call, as a user
// of the API would; the cblas anchor writes into a preallocated C.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "iccrt/core/generator.hpp"
#include "iccrt/autograd/functions.hpp"
#include "iccrt/ops/matmul.hpp"

#ifdef ICCRT_BENCH_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace {

void set_gemm_counters(benchmark::State& st, int64_t m, int64_t n, int64_t k) {
  st.counters["flops"] =
      benchmark::Counter(2.0 * static_cast<double>(m) * n * k, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["M"] = static_cast<double>(m);
  st.counters["N"] = static_cast<double>(n);
  st.counters["K"] = static_cast<double>(k);
}

void BM_GemmIccrt(benchmark::State& st) {
  const int64_t m = st.range(0), n = st.range(1), k = st.range(2);
  iccrt::Generator g(1);
  const iccrt::Tensor a = iccrt::rand({m, k}, iccrt::DType::Float32, &g);
  const iccrt::Tensor b = iccrt::rand({k, n}, iccrt::DType::Float32, &g);
  for (auto _ : st) {
    iccrt::Tensor c = iccrt::matmul(a, b);
    benchmark::DoNotOptimize(c.data_ptr());
    benchmark::ClobberMemory();
  }
  set_gemm_counters(st, m, n, k);
}

#ifdef ICCRT_BENCH_HAVE_OPENBLAS
void BM_GemmOpenBLAS(benchmark::State& st) {
  const int64_t m = st.range(0), n = st.range(1), k = st.range(2);
  std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n)), c(static_cast<size_t>(m * n));
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>((i * 104729) % 1000) / 1000.0f;
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), 1.0f, a.data(), static_cast<int>(k), b.data(), static_cast<int>(n), 0.0f, c.data(),
                static_cast<int>(n));
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gemm_counters(st, m, n, k);
}
#endif

}  // namespace

// Registered size by size, iccrt then OpenBLAS, so that both see the same machine state (the CI machines are
// shared and noisy).
void register_gemm_benchmarks() {
  const int64_t sizes[][3] = {{256, 256, 256},
                              {512, 512, 512},
                              {1024, 1024, 1024},
                              {2048, 2048, 2048},
                              {4096, 1024, 1024}};  // the last: M x N x K of a transformer-like projection
  for (const auto& s : sizes) {
    std::vector<benchmark::internal::Benchmark*> bs;
    bs.push_back(benchmark::RegisterBenchmark("BM_GemmIccrt", BM_GemmIccrt));
#ifdef ICCRT_BENCH_HAVE_OPENBLAS
    bs.push_back(benchmark::RegisterBenchmark("BM_GemmOpenBLAS", BM_GemmOpenBLAS));
#endif
    for (auto* b : bs) {
      b->Args({s[0], s[1], s[2]});
      b->ArgNames({"M", "N", "K"});
      b->UseRealTime();  // both run multi-threaded: the calling thread's CPU time would mean nothing
      b->Unit(benchmark::kMillisecond);
      b->MinTime(0.3);
    }
  }
}
