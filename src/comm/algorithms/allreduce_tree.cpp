// Double binary tree all-reduce (the scheme NCCL uses between nodes). A single binary tree wastes half the
// links: leaves only ever send once. So the buffer is split in two halves, each reduced up and broadcast down
// its own tree, and the second tree is laid out so that the leaves of the first are inner nodes of the second:
// every rank then sends and receives about one buffer's worth in total, with log2(p) latency instead of the
// ring's p.
//
// Shape. Tree positions 0..p-1 form an in-order binary tree: over any range of positions, the subtree root is
// the position x whose x + 1 has the most trailing zero bits. Every position with x + 1 odd is then a leaf.
// Tree 0 puts rank r at position r, so its leaves are the even ranks; tree 1 mirrors (p even: r -> p - 1 - r)
// or shifts (p odd: r -> r + 1) the ranks, which turns even ranks into odd positions (inner nodes). With p odd
// one rank is a leaf in both, as in NCCL.
//
// Schedule: Note [Double tree schedule] below.
#include <algorithm>
#include <vector>

#include "kernels/cpu/comm_reduce.hpp"
#include "src/comm/algorithms/algorithms.hpp"
#include "src/comm/algorithms/partition.hpp"

namespace iccrt::comm::algo {

using namespace detail;

namespace {

// Note [Double tree schedule]
// Both trees run in lock-step iterations; in iteration i every rank posts the messages of iteration i (tree 0's,
// then tree 1's) and waits for all of them. A message is posted by both of its ends in the same iteration, so
// every ordered pair of ranks posts its messages in the same order on both sides, even where the two trees use
// the same pair (FIFO matching needs exactly that). For chunk k of a tree's half:
//   - node v sends its partial sum up at iteration k + send(v);
//   - it has folded in every child's partial by then, because ready(v) = 1 + max over children of send(c) and
//     send(v) >= ready(v). Siblings get different send offsets (the second is delayed by one iteration on a
//     tie), so the two children never fold into the same chunk at once and the order in which a node folds its
//     children is fixed: results are reproducible run to run;
//   - the root (ready = H) sends the result down at iteration k + H; a node at depth d receives it at
//     k + H + d - 1 and forwards it at k + H + d.
// A node's up-send of chunk k (k + send(v) <= k + H - d) always completes before the result of chunk k is
// received into the same memory (k + H + d - 1), so a transport may read send buffers lazily. Chunks of
// different depths are in flight in the same iteration: that is the pipeline, and reduce-up overlaps
// broadcast-down.
struct Node {
  int parent = -1;  // position; -1 at the root
  int children[2] = {-1, -1};
  int nchildren = 0;
  int depth = 0;
  int ready = 0;  // iteration offset from which this node holds its whole subtree's partial of chunk 0
  int send = 0;   // iteration offset at which it sends chunk 0 up
};

// The value in [lo, hi] (lo >= 1) with the most trailing zero bits; unique in any range of integers.
int most_aligned(int lo, int hi) {
  for (int k = 30; k > 0; --k) {
    const int64_t step = int64_t{1} << k;
    const int64_t m = (lo + step - 1) / step * step;
    if (m <= hi) return static_cast<int>(m);
  }
  return lo;
}

// Builds the subtree over 1-based values [lo, hi] (position = value - 1); returns its root position or -1.
int build(std::vector<Node>& nodes, int lo, int hi, int parent, int depth) {
  if (lo > hi) return -1;
  const int x = most_aligned(lo, hi) - 1;
  nodes[x].parent = parent;
  nodes[x].depth = depth;
  const int sub[2] = {build(nodes, lo, x, x, depth + 1), build(nodes, x + 2, hi, x, depth + 1)};
  Node& n = nodes[x];
  int last_send = -1;
  for (int child : sub) {
    if (child < 0) continue;
    Node& ch = nodes[child];
    ch.send = ch.ready == last_send ? ch.ready + 1 : ch.ready;
    last_send = ch.send;
    n.ready = std::max(n.ready, ch.send + 1);
    n.children[n.nchildren++] = child;
  }
  return x;
}

struct Layout {
  std::vector<Node> nodes;
  int root = -1;
  int height = 0;  // H: ready offset of the root
  int max_depth = 0;
};

Layout make_layout(int p) {
  Layout l;
  l.nodes.resize(static_cast<size_t>(p));
  l.root = build(l.nodes, 1, p, -1, 0);
  l.height = l.nodes[l.root].ready;
  for (const Node& n : l.nodes) l.max_depth = std::max(l.max_depth, n.depth);
  return l;
}

int rank_of(int tree, int pos, int p) {
  if (tree == 0) return pos;
  return p % 2 == 0 ? p - 1 - pos : mod(pos - 1, p);
}
int pos_of(int tree, int rank, int p) {
  if (tree == 0) return rank;
  return p % 2 == 0 ? p - 1 - rank : mod(rank + 1, p);
}

// Posts this rank's messages of iteration i for one tree, whose half of the buffer is `half`.
void post_iteration(Context& c, Requests& reqs, const Layout& l, int tree, int64_t i, void* buf, Span half, DType dtype,
                    ReduceOp op, size_t chunk) {
  const int p = c.t.size();
  const size_t esz = static_cast<size_t>(itemsize(dtype));
  const int64_t nch = static_cast<int64_t>(num_chunks(half.len, chunk));
  const Node& me = l.nodes[pos_of(tree, c.t.rank(), p)];
  const auto valid = [&](int64_t k) { return k >= 0 && k < nch; };
  const auto span = [&](int64_t k) { return chunk_of(half, chunk, static_cast<size_t>(k)); };

  for (int j = 0; j < me.nchildren; ++j) {  // fold children's partials in
    const Node& ch = l.nodes[me.children[j]];
    if (const int64_t k = i - ch.send; valid(k)) {
      post_recv_reduces(c, reqs, rank_of(tree, me.children[j], p), buf, span(k), dtype, op, chunk);
    }
  }
  if (me.parent >= 0) {
    const int parent = rank_of(tree, me.parent, p);
    if (const int64_t k = i - me.send; valid(k)) post_sends(c, reqs, parent, buf, span(k), esz, chunk);
    if (const int64_t k = i - l.height - me.depth + 1; valid(k)) post_recvs(c, reqs, parent, buf, span(k), esz, chunk);
  }
  if (const int64_t k = i - l.height - me.depth; valid(k)) {  // forward the result down
    for (int j = 0; j < me.nchildren; ++j) {
      post_sends(c, reqs, rank_of(tree, me.children[j], p), buf, span(k), esz, chunk);
    }
  }
}

}  // namespace

void allreduce_tree(Context& c, void* buf, size_t count, DType dtype, ReduceOp op) {
  kernels::cpu::comm_check_reducible(dtype, op);
  const int p = c.t.size();
  if (p == 1 || count == 0) return;
  const size_t esz = static_cast<size_t>(itemsize(dtype)), chunk = chunk_elems(c, esz);
  const Layout l = make_layout(p);
  // Tree 0 takes the first half (the larger one when count is odd), tree 1 the rest.
  const Span halves[2] = {block(count, 2, 0), block(count, 2, 1)};
  const int64_t nch = static_cast<int64_t>(num_chunks(halves[0].len, chunk));
  // The last message is the result reaching the deepest node: chunk nch - 1 at nch - 1 + H + max_depth - 1.
  const int64_t iterations = nch + l.height + l.max_depth;
  Requests reqs;
  for (int64_t i = 0; i < iterations; ++i) {
    for (int tree = 0; tree < 2; ++tree) post_iteration(c, reqs, l, tree, i, buf, halves[tree], dtype, op, chunk);
    if (!reqs.empty()) wait_all(reqs, c.wait);
  }
}

}  // namespace iccrt::comm::algo
