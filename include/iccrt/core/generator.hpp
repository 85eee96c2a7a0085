#pragma once
// Counter-based random numbers (Philox-4x32-10): element i of a draw depends only on (seed, offset + i), so a
// seed reproduces a run exactly and CPU and CUDA produce the same uniform values.
#include <cstdint>
#include <utility>

#include "iccrt/core/export.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt {

// A seed plus an offset that advances by the number of values each draw consumes.
class ICCRT_API Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  // Offsets count 32-bit Philox words and stay multiples of 4 (one Philox block), so a value never straddles
  // two blocks; other values round up.
  void set_offset(uint64_t offset) { offset_ = (offset + 3) / 4 * 4; }
  // Reserves `n` counters and returns the first.
  uint64_t advance(uint64_t n) {
    const uint64_t o = offset_;
    offset_ += (n + 3) / 4 * 4;
    return o;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// Reserves `n` values of `gen` (the default generator when null) under the one lock every random op takes, so
// concurrent draws from one generator never overlap. Returns (seed, first offset).
ICCRT_API std::pair<uint64_t, uint64_t> reserve_random(Generator* gen, uint64_t n);

// The process-wide default generator (seed 0 until manual_seed).
ICCRT_API Generator& default_generator();
ICCRT_API void manual_seed(uint64_t seed);

// Uniform on [low, high) and normal(mean, std), floating dtypes only.
ICCRT_API Tensor rand(const Shape& shape, TensorOptions opts = {}, Generator* gen = nullptr);
ICCRT_API Tensor randn(const Shape& shape, TensorOptions opts = {}, Generator* gen = nullptr);
ICCRT_API Tensor& uniform_(Tensor& t, double low, double high, Generator* gen = nullptr);
ICCRT_API Tensor& normal_(Tensor& t, double mean, double std, Generator* gen = nullptr);

}  // namespace iccrt
