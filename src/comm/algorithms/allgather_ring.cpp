// Ring all-gather: rank r's block starts in out[r]; at step s (0..p-2) every rank forwards block r - s to the
// right and receives block r - s - 1 from the left, so after p - 1 steps every block has gone round. Each rank
// sends and receives (p-1)/p of the output: bandwidth-optimal. Blocks travel as chunks of c.chunk_bytes.
//
// A block is received exactly once and only forwarded afterwards, so no receive ever overwrites memory a send
// is still reading.
#include <cstring>

#include "src/comm/algorithms/algorithms.hpp"
#include "src/comm/algorithms/partition.hpp"

namespace iccrt::comm::algo {

using namespace detail;

void allgather_ring(Context& c, const void* in, void* out, size_t count, DType dtype) {
  const int p = c.t.size(), r = c.t.rank();
  const size_t esz = static_cast<size_t>(itemsize(dtype));
  if (count == 0) return;
  // in may already be out[r] (in-place all-gather).
  void* mine = at(out, static_cast<size_t>(r) * count, esz);
  if (mine != in) std::memmove(mine, in, count * esz);
  if (p == 1) return;

  const size_t chunk = chunk_elems(c, esz);
  const int right = mod(r + 1, p), left = mod(r - 1, p);
  const auto blk = [&](int b) { return Span{static_cast<size_t>(mod(b, p)) * count, count}; };
  Requests reqs;
  for (int s = 0; s < p - 1; ++s) {
    post_recvs(c, reqs, left, out, blk(r - s - 1), esz, chunk);
    post_sends(c, reqs, right, out, blk(r - s), esz, chunk);
    wait_all(reqs, c.wait);
  }
}

}  // namespace iccrt::comm::algo
