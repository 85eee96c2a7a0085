// Uniform and normal draws from Philox (kernels/common/philox.hpp). Value i depends only on (seed, offset, i),
// so any split across threads, and the CUDA kernels, give the same values.
#include <cstdint>
#include <type_traits>

#include "kernels/common/philox.hpp"
#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/parallel.hpp"

namespace iccrt::kernels::cpu {
namespace {

constexpr int64_t kRandomGrain = 8192;

// One Philox block yields four words, which serve up to four consecutive values; recomputing it per value (as
// philox_uniform_at does) would quadruple the work of a float draw.
struct BlockCache {
  uint64_t seed;
  uint64_t block = ~uint64_t{0};
  Philox4 words{};
  const Philox4& get(uint64_t b) {
    if (b != block) {
      words = philox4x32_10(b, seed);
      block = b;
    }
    return words;
  }
};

// Bit for bit philox_uniform_at(seed, offset, i, is_double), with the block reused across values.
template <bool kDouble>
double uniform_at(BlockCache& cache, uint64_t offset, uint64_t i) {
  if constexpr (!kDouble) {
    const uint64_t w = offset + i;
    return philox_uniform_f32(cache.get(w >> 2).v[w & 3]);
  } else {
    const uint64_t w = offset + 2 * i;
    const Philox4& r = cache.get(w >> 2);
    const unsigned l = static_cast<unsigned>(w & 3);
    return philox_uniform_f64(r.v[l], r.v[l + 1]);
  }
}

}  // namespace

void random_uniform(void* out, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double low, double high) {
  // Two-word values must not straddle a Philox block (philox.hpp); Generator::advance keeps this.
  ICCRT_ASSERT(offset % 4 == 0, "random offset ", offset, " is not a multiple of 4");
  dispatch_floating(dtype, "random_uniform", [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr bool kDouble = std::is_same_v<T, double>;
    T* o = static_cast<T*>(out);
    const double scale = high - low;
    detail::parallel_for(n, kRandomGrain, [&](int64_t b, int64_t e) {
      BlockCache cache{seed};
      for (int64_t i = b; i < e; ++i) {
        // Note [Uniform draws stay below high] (philox.hpp)
        o[i] = uniform_below_high(
            static_cast<T>(low + scale * uniform_at<kDouble>(cache, offset, static_cast<uint64_t>(i))), low, high);
      }
    });
  });
}

void random_normal(void* out, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  ICCRT_ASSERT(offset % 4 == 0, "random offset ", offset, " is not a multiple of 4");
  dispatch_floating(dtype, "random_normal", [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr bool kDouble = std::is_same_v<T, double>;
    T* o = static_cast<T*>(out);
    // log and cos dominate here, so the shared helper is called as is.
    detail::parallel_for(n, kRandomGrain / 4, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        o[i] = static_cast<T>(mean + std * philox_normal_at(seed, offset, static_cast<uint64_t>(i), kDouble));
      }
    });
  });
}

}  // namespace iccrt::kernels::cpu
