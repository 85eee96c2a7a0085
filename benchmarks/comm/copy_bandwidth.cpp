#include "copy_bandwidth.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "iccrt/core/tensor.hpp"

namespace iccrt::bench {

CopyBandwidth measure_copy_bandwidth(size_t bytes, int reps) {
  const Shape shape{static_cast<int64_t>(bytes)};
  Tensor src = empty(shape, DType::UInt8), dst = empty(shape, DType::UInt8);
  // Fault every page in (and give the source non-zero contents) before timing.
  std::memset(src.data_ptr(), 1, bytes);
  std::memset(dst.data_ptr(), 0, bytes);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(dst.data_ptr(), src.data_ptr(), bytes);
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  // Keep the copies observable so they are not optimised away.
  volatile unsigned char sink = static_cast<unsigned char*>(dst.data_ptr())[bytes / 2];
  (void)sink;
  return {bytes, static_cast<double>(bytes) / best / 1e9};
}

}  // namespace iccrt::bench
