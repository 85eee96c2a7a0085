// iccrt_kernel_bench: iccrt's CPU kernels next to their anchors (OpenBLAS, measured FMA peak, memcpy).
// Registration order is the run order: the machine's ceilings first, then GEMM size by size.
#include <benchmark/benchmark.h>

#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef ICCRT_BENCH_HAVE_OPENBLAS
#include <cblas.h>
#endif

void register_roofline_benchmarks();
void register_gemm_benchmarks();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
#ifdef _OPENMP
  benchmark::AddCustomContext("iccrt_omp_threads", std::to_string(omp_get_max_threads()));
#else
  benchmark::AddCustomContext("iccrt_omp_threads", "1 (built without OpenMP)");
#endif
#ifdef ICCRT_BENCH_HAVE_OPENBLAS
  benchmark::AddCustomContext(
      "openblas", std::string(openblas_get_config()) + ", threads=" + std::to_string(openblas_get_num_threads()));
#else
  benchmark::AddCustomContext("openblas", "not installed: no cblas_sgemm anchor");
#endif
#ifdef ICCRT_BENCH_ICCRT_USES_OPENBLAS
  benchmark::AddCustomContext("iccrt_gemm", "OpenBLAS (ICCRT_USE_OPENBLAS=ON)");
#else
  benchmark::AddCustomContext("iccrt_gemm", "iccrt blocked GEMM (ICCRT_USE_OPENBLAS=OFF)");
#endif
  register_roofline_benchmarks();
  register_gemm_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
