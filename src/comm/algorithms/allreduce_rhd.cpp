// Recursive halving-doubling all-reduce (Rabenseifner): a reduce-scatter by recursive halving, then an
// all-gather by recursive doubling. With n = 2^k ranks it takes 2 log2(n) steps and moves 2(n-1)/n of the buffer
// per rank, like the ring, but with logarithmic latency: the choice for mid-sized messages.
//
// The buffer is split into n blocks (sizes differ by at most one element). Halving: at the step with distance
// `mask` (n/2, n/4, ..., 1) a rank and rank ^ mask split their current block range; each keeps the half
// selected by its own `mask` bit, sends the other half and folds in the partner's copy of the half it keeps.
// After the last step main-phase rank nr owns block nr, fully reduced. Doubling runs the same pairs backwards,
// swapping finished ranges until every rank holds every block.
//
// Non-power-of-two rank counts: Note [Non-power-of-two ranks] in partition.hpp.
#include "kernels/cpu/comm_reduce.hpp"
#include "src/comm/algorithms/algorithms.hpp"
#include "src/comm/algorithms/partition.hpp"

namespace iccrt::comm::algo {

using namespace detail;

void allreduce_rhd(Context& c, void* buf, size_t count, DType dtype, ReduceOp op) {
  kernels::cpu::comm_check_reducible(dtype, op);
  const int p = c.t.size();
  if (p == 1 || count == 0) return;
  const size_t esz = static_cast<size_t>(itemsize(dtype)), chunk = chunk_elems(c, esz);
  const Pof2Plan f = pof2_plan(c.t.rank(), p);

  pof2_fold_in(c, f, buf, count, dtype, op);
  if (f.newrank >= 0) {
    const int n = f.pof2, nr = f.newrank;
    Requests reqs;
    // Reduce-scatter by recursive halving over blocks [lo, hi).
    int lo = 0, hi = n;
    for (int mask = n / 2; mask >= 1; mask /= 2) {
      const int partner = f.real(nr ^ mask), mid = lo + mask;
      const bool upper = (nr & mask) != 0;
      const Span keep = upper ? block_range(count, n, mid, hi) : block_range(count, n, lo, mid);
      const Span give = upper ? block_range(count, n, lo, mid) : block_range(count, n, mid, hi);
      post_recv_reduces(c, reqs, partner, buf, keep, dtype, op, chunk);
      post_sends(c, reqs, partner, buf, give, esz, chunk);
      wait_all(reqs, c.wait);
      if (upper) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    // All-gather by recursive doubling: before the step with distance `mask`, this rank holds the mask blocks
    // starting at nr rounded down to a multiple of mask, its partner the neighbouring mask blocks.
    for (int mask = 1; mask < n; mask *= 2) {
      const int pnr = nr ^ mask;
      const int mine = nr & ~(mask - 1), theirs = pnr & ~(mask - 1);
      post_recvs(c, reqs, f.real(pnr), buf, block_range(count, n, theirs, theirs + mask), esz, chunk);
      post_sends(c, reqs, f.real(pnr), buf, block_range(count, n, mine, mine + mask), esz, chunk);
      wait_all(reqs, c.wait);
    }
  }
  pof2_fold_out(c, f, buf, count, esz);
}

}  // namespace iccrt::comm::algo
