// Binomial-tree reduce to `root`, pipelined in chunks. With ranks renumbered relative to the root
// (v = r - root mod p), rank v folds in the partials of v + 2^j for every 2^j below its lowest set bit (the
// root: below p) and sends its own partial to v minus that bit. log2(p) levels; `in` is never written (except
// where it is `out` at the root), so inner ranks accumulate in a scratch copy and leaves send `in` directly.
//
// Schedule: in iteration i a rank whose lowest set bit is 2^J sends chunk i - J up, and folds in chunk i - j
// from its child v + 2^j (whose own lowest bit is 2^j). All children of a rank are ready at different
// iterations, so a chunk's partials are folded one child at a time in a fixed order (reproducible results,
// never two folds into the same memory at once), and a rank sends chunk k only after its last child's chunk k
// arrived (iteration k + J - 1). Chunks of different levels are in flight together: that is the pipeline.
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "kernels/cpu/comm_reduce.hpp"
#include "src/comm/algorithms/algorithms.hpp"
#include "src/comm/algorithms/partition.hpp"

namespace iccrt::comm::algo {

using namespace detail;

void reduce_tree(Context& c, const void* in, void* out, size_t count, DType dtype, ReduceOp op, int root) {
  kernels::cpu::comm_check_reducible(dtype, op);
  const int p = c.t.size(), r = c.t.rank();
  ICCRT_CHECK_VALUE(root >= 0 && root < p, "reduce root ", root, " is not a rank of a group of ", p);
  ICCRT_CHECK_VALUE(r != root || out != nullptr || count == 0, "reduce: the root needs an output buffer");
  const size_t esz = static_cast<size_t>(itemsize(dtype)), bytes = count * esz;
  if (count == 0) return;
  if (p == 1) {
    if (out != in) std::memmove(out, in, bytes);
    return;
  }
  const int v = mod(r - root, p);
  const int low = v == 0 ? ceil_log2(p) : __builtin_ctz(static_cast<unsigned>(v));
  const int parent = v == 0 ? -1 : mod(v - (1 << low) + root, p);
  std::vector<std::pair<int, int>> children;  // (j, rank) for child v + 2^j
  for (int j = 0; j < low; ++j) {
    if (v + (1 << j) < p) children.emplace_back(j, mod(v + (1 << j) + root, p));
  }

  // Where this rank's partial accumulates: `out` at the root, a scratch copy of `in` at inner ranks.
  std::unique_ptr<uint8_t[]> scratch;
  void* acc = nullptr;
  if (v == 0) {
    acc = out;
    if (out != in) std::memcpy(out, in, bytes);
  } else if (!children.empty()) {
    scratch.reset(new uint8_t[bytes]);
    std::memcpy(scratch.get(), in, bytes);
    acc = scratch.get();
  }
  const void* partial = acc != nullptr ? acc : in;

  const size_t chunk = chunk_elems(c, esz);
  const int64_t nch = static_cast<int64_t>(num_chunks(count, chunk));
  const auto span = [&](int64_t k) { return chunk_of({0, count}, chunk, static_cast<size_t>(k)); };
  const int64_t last_child = children.empty() ? -1 : children.back().first;
  const int64_t iterations = nch + (parent >= 0 ? low : last_child);
  Requests reqs;
  for (int64_t i = 0; i < iterations; ++i) {
    for (const auto& [j, child] : children) {
      if (const int64_t k = i - j; k >= 0 && k < nch) {
        post_recv_reduces(c, reqs, child, acc, span(k), dtype, op, chunk);
      }
    }
    if (const int64_t k = i - low; parent >= 0 && k >= 0 && k < nch) {
      post_sends(c, reqs, parent, partial, span(k), esz, chunk);
    }
    if (!reqs.empty()) wait_all(reqs, c.wait);
  }
}

}  // namespace iccrt::comm::algo
