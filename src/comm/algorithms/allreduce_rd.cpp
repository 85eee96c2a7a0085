// Recursive doubling all-reduce: log2(n) steps in which rank nr and rank nr ^ mask swap their whole buffers and
// both reduce. Each rank moves log2(n) buffers, so this is only for tiny messages, where it has the fewest
// latencies of all (log2 n, against 2 log2 n for halving-doubling and 2(n-1) for the ring).
//
// The incoming buffer lands in scratch and is reduced after the step's wait: reducing straight into `buf` would
// overwrite data our own send may still be reading. Both partners reduce with the lower-numbered rank's data as
// the first operand, so they compute bit-identical results even where an op is not exactly symmetric (which NaN
// payload or signed zero Min/Max keeps), and every rank ends with the same bits.
//
// Non-power-of-two rank counts: Note [Non-power-of-two ranks] in partition.hpp.
#include <memory>

#include "kernels/cpu/comm_reduce.hpp"
#include "src/comm/algorithms/algorithms.hpp"
#include "src/comm/algorithms/partition.hpp"

namespace iccrt::comm::algo {

using namespace detail;

void allreduce_rd(Context& c, void* buf, size_t count, DType dtype, ReduceOp op) {
  kernels::cpu::comm_check_reducible(dtype, op);
  const int p = c.t.size();
  if (p == 1 || count == 0) return;
  const size_t esz = static_cast<size_t>(itemsize(dtype)), chunk = chunk_elems(c, esz);
  const Pof2Plan f = pof2_plan(c.t.rank(), p);

  pof2_fold_in(c, f, buf, count, dtype, op);
  if (f.newrank >= 0 && f.pof2 > 1) {
    const std::unique_ptr<uint8_t[]> scratch(new uint8_t[count * esz]);
    Requests reqs;
    for (int mask = 1; mask < f.pof2; mask *= 2) {
      const int pnr = f.newrank ^ mask, peer = f.real(pnr);
      post_recvs(c, reqs, peer, scratch.get(), {0, count}, esz, chunk);
      post_sends(c, reqs, peer, buf, {0, count}, esz, chunk);
      wait_all(reqs, c.wait);
      if (f.newrank < pnr) {
        kernels::cpu::comm_reduce2(buf, buf, scratch.get(), count, dtype, op);
      } else {
        kernels::cpu::comm_reduce2(buf, scratch.get(), buf, count, dtype, op);
      }
    }
  }
  pof2_fold_out(c, f, buf, count, esz);
}

}  // namespace iccrt::comm::algo
