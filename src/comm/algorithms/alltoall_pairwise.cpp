// Pairwise-exchange all-to-all: p - 1 steps; at step s rank r sends its block for r + s and receives the block
// from r - s. Each step pairs every rank with exactly one sender and one receiver, so no rank is flooded by
// many peers at once (the problem with posting all p - 1 exchanges together), at p - 1 latencies.
#include <cstring>
#include <memory>

#include "src/comm/algorithms/algorithms.hpp"
#include "src/comm/algorithms/partition.hpp"

namespace iccrt::comm::algo {

using namespace detail;

void alltoall_pairwise(Context& c, const void* in, void* out, size_t bytes_per_rank) {
  const int p = c.t.size(), r = c.t.rank();
  const size_t b = bytes_per_rank;
  if (b == 0) return;
  // In place, a received block would overwrite one we have not sent yet: send from a copy.
  std::unique_ptr<uint8_t[]> copy;
  if (in == out) {
    copy.reset(new uint8_t[static_cast<size_t>(p) * b]);
    std::memcpy(copy.get(), in, static_cast<size_t>(p) * b);
    in = copy.get();
  }
  std::memcpy(at(out, static_cast<size_t>(r), b), at(in, static_cast<size_t>(r), b), b);

  const size_t chunk = std::max<size_t>(1, c.chunk_bytes);
  Requests reqs;
  for (int s = 1; s < p; ++s) {
    const int to = mod(r + s, p), from = mod(r - s, p);
    post_recvs(c, reqs, from, out, {static_cast<size_t>(from) * b, b}, 1, chunk);
    post_sends(c, reqs, to, in, {static_cast<size_t>(to) * b, b}, 1, chunk);
    wait_all(reqs, c.wait);
  }
}

}  // namespace iccrt::comm::algo
