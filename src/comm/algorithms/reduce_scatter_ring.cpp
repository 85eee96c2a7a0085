// Ring reduce-scatter: the first half of the ring all-reduce, on an input of p blocks of `count` elements. At
// step s (0..p-2) rank r forwards its partial sum of block r - s - 1 to the right and receives the left
// neighbour's partial of block r - s - 2, which it combines with its own input block; after p - 1 steps the
// partial it holds is block r with all p contributions (the ring all-reduce ends one block further, at r + 1).
//
// `in` is read-only, so partials live in two scratch blocks used alternately: the one being received into this
// step is never the one being sent. Each step prefills the receiving block with this rank's input block and
// folds the incoming chunks in as they arrive (irecv_reduce). The last step's partial goes straight to `out`.
#include <cstring>
#include <memory>

#include "kernels/cpu/comm_reduce.hpp"
#include "src/comm/algorithms/algorithms.hpp"
#include "src/comm/algorithms/partition.hpp"

namespace iccrt::comm::algo {

using namespace detail;

void reduce_scatter_ring(Context& c, const void* in, void* out, size_t count, DType dtype, ReduceOp op) {
  kernels::cpu::comm_check_reducible(dtype, op);
  const int p = c.t.size(), r = c.t.rank();
  const size_t esz = static_cast<size_t>(itemsize(dtype)), bytes = count * esz;
  const auto input = [&](int b) { return at(in, static_cast<size_t>(b) * count, esz); };
  if (count == 0) return;
  if (p == 1) {
    if (out != in) std::memmove(out, in, bytes);
    return;
  }
  const size_t chunk = chunk_elems(c, esz);
  const int right = mod(r + 1, p), left = mod(r - 1, p);
  const Span whole{0, count};
  // Two scratch partials, needed only when there are at least two steps before the one that writes `out`.
  std::unique_ptr<uint8_t[]> scratch(p > 2 ? new uint8_t[2 * bytes] : nullptr);
  Requests reqs;

  const void* sending = input(mod(r - 1, p));  // step 0 forwards a raw input block
  for (int s = 0; s < p - 1; ++s) {
    const int b = mod(r - s - 2, p);
    void* target = s == p - 2 ? out : scratch.get() + static_cast<size_t>(s % 2) * bytes;
    // out may alias input(r) (b == r on the last step): then it already holds the input block.
    if (target != input(b)) std::memcpy(target, input(b), bytes);
    post_recv_reduces(c, reqs, left, target, whole, dtype, op, chunk);
    post_sends(c, reqs, right, sending, whole, esz, chunk);
    wait_all(reqs, c.wait);
    sending = target;
  }
}

}  // namespace iccrt::comm::algo
