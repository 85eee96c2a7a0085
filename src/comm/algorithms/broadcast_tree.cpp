// Binomial-tree broadcast, pipelined in chunks. With ranks renumbered relative to the root (v = r - root mod p),
// rank v receives from v minus its lowest set bit and forwards to v + 2^j for every 2^j below that bit (the
// root: below p), largest subtree first, so the deepest path starts earliest. log2(p) levels.
//
// Pipelining: a rank receives chunk k while its sends of chunk k - 1 are still in flight, and forwards chunk k
// as soon as it has it, so with many chunks every level of the tree is busy at once and the time tends to
// (bytes + depth * chunk) / bandwidth instead of depth * bytes / bandwidth. Waiting on the previous chunk's sends
// before posting more bounds the requests in flight to one chunk per child.
#include <vector>

#include "src/comm/algorithms/algorithms.hpp"
#include "src/comm/algorithms/partition.hpp"

namespace iccrt::comm::algo {

using namespace detail;

void broadcast_tree(Context& c, void* buf, size_t bytes, int root) {
  const int p = c.t.size(), r = c.t.rank();
  ICCRT_CHECK_VALUE(root >= 0 && root < p, "broadcast root ", root, " is not a rank of a group of ", p);
  if (p == 1 || bytes == 0) return;
  const int v = mod(r - root, p);
  const int low = v == 0 ? ceil_log2(p) : __builtin_ctz(static_cast<unsigned>(v));  // children are v + 2^j, j < low
  const int parent = v == 0 ? -1 : mod(v - (1 << low) + root, p);
  std::vector<int> children;
  for (int j = low - 1; j >= 0; --j) {
    if (v + (1 << j) < p) children.push_back(mod(v + (1 << j) + root, p));
  }

  const size_t chunk = std::max<size_t>(1, c.chunk_bytes);
  const size_t nch = num_chunks(bytes, chunk);
  Requests reqs;
  for (size_t k = 0; k < nch; ++k) {
    const Span ch = chunk_of({0, bytes}, chunk, k);
    if (parent >= 0) post_recvs(c, reqs, parent, buf, ch, 1, chunk);
    wait_all(reqs, c.wait);  // chunk k has arrived, chunk k - 1 has left
    for (int child : children) post_sends(c, reqs, child, buf, ch, 1, chunk);
  }
  wait_all(reqs, c.wait);
}

}  // namespace iccrt::comm::algo
