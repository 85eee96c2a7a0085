// Dissemination barrier: in round k every rank signals rank + 2^k and waits for rank - 2^k. After
// ceil(log2 p) rounds each rank has heard, directly or through a chain, from every other rank, so none leaves
// before all have arrived. Messages are empty but still carry c.tag, so ranks at different collectives are
// caught by the transport's tag check instead of silently passing each other.
#include "src/comm/algorithms/algorithms.hpp"
#include "src/comm/algorithms/partition.hpp"

namespace iccrt::comm::algo {

using namespace detail;

void barrier_dissemination(Context& c) {
  const int p = c.t.size(), r = c.t.rank();
  Requests reqs;
  for (int dist = 1; dist < p; dist *= 2) {
    reqs.push_back(c.t.irecv(mod(r - dist, p), nullptr, 0, c.tag));
    reqs.push_back(c.t.isend(mod(r + dist, p), nullptr, 0, c.tag));
    wait_all(reqs, c.wait);
  }
}

}  // namespace iccrt::comm::algo
