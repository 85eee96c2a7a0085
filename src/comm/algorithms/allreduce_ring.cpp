// Ring all-reduce: a reduce-scatter around the ring followed by an all-gather around it. The buffer is split
// into one block per rank (sizes differ by at most one element); in each of the 2(p-1) steps every rank sends
// one block to its right neighbour and receives one from its left, so each rank moves 2(p-1)/p of the buffer
// in each direction whatever p is: bandwidth-optimal, at the price of 2(p-1) latencies.
//
// Each step's block travels as chunks of c.chunk_bytes, all posted at once: the receiver folds chunk k in
// (irecv_reduce) while chunk k+1 is still arriving, so reduction overlaps the transfer.
//
// Every block is reduced by exactly one chain of ranks and then copied around, so all ranks end with the same
// bits.
#include "kernels/cpu/comm_reduce.hpp"
#include "src/comm/algorithms/algorithms.hpp"
#include "src/comm/algorithms/partition.hpp"

namespace iccrt::comm::algo {

using namespace detail;

void allreduce_ring(Context& c, void* buf, size_t count, DType dtype, ReduceOp op) {
  kernels::cpu::comm_check_reducible(dtype, op);
  const int p = c.t.size(), r = c.t.rank();
  if (p == 1 || count == 0) return;
  const size_t esz = static_cast<size_t>(itemsize(dtype)), chunk = chunk_elems(c, esz);
  const int right = mod(r + 1, p), left = mod(r - 1, p);
  Requests reqs;

  // Reduce-scatter. At step s rank r passes on its partial sum of block r - s and folds the left neighbour's
  // partial of block r - s - 1 into its own; after p - 1 steps block r + 1 holds all p contributions here.
  // The block being sent and the block being reduced into are different, so both can be in flight at once.
  for (int s = 0; s < p - 1; ++s) {
    post_recv_reduces(c, reqs, left, buf, block(count, p, mod(r - s - 1, p)), dtype, op, chunk);
    post_sends(c, reqs, right, buf, block(count, p, mod(r - s, p)), esz, chunk);
    wait_all(reqs, c.wait);
  }

  // All-gather. At step s rank r passes on finished block r + 1 - s and receives finished block r - s. The
  // block received at step s is the one sent at reduce-scatter step s; that send completed in its own step's
  // wait, so overwriting it here is safe even on transports that read the send buffer lazily.
  for (int s = 0; s < p - 1; ++s) {
    post_recvs(c, reqs, left, buf, block(count, p, mod(r - s, p)), esz, chunk);
    post_sends(c, reqs, right, buf, block(count, p, mod(r + 1 - s, p)), esz, chunk);
    wait_all(reqs, c.wait);
  }
}

}  // namespace iccrt::comm::algo
