#pragma once
// The physical reference printed in iccrt_bench's header: how fast one core copies a buffer far larger than the
// caches. A shared-memory collective moves every byte through some core's loads and stores, so this bounds what
// one rank can do alone.
#include <cstddef>

namespace iccrt::bench {

struct CopyBandwidth {
  size_t bytes = 0;  // buffer size
  double gbps = 0;   // bytes copied per second / 1e9, best of the repetitions (read + write traffic is twice this)
};

// memcpy of `bytes` between two buffers from iccrt's CPU allocator (the same allocation path as the benchmark's
// buffers: 2 MiB-aligned, transparent huge pages), after touching both; the best of `reps` copies.
CopyBandwidth measure_copy_bandwidth(size_t bytes, int reps);

}  // namespace iccrt::bench
