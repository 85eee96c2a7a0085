#pragma once
// Helpers shared by the algorithm files: splitting a buffer into per-rank blocks and chunks, posting a span as
// chunk-sized messages, and the fold step that lets power-of-two algorithms run on any rank count.
//
// Every helper is a pure function of (count, rank count, rank, chunk size): both ends of a message compute the
// same spans, so they post the same messages in the same order without negotiating. That is also why empty
// spans may post nothing at all.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "src/comm/algorithms/algorithms.hpp"

namespace iccrt::comm::algo::detail {

using Requests = std::vector<RequestPtr>;

// A run of elements [off, off + len) of a buffer.
struct Span {
  size_t off = 0;
  size_t len = 0;
};

// Blocks [b0, b1) of `count` elements split into `parts` blocks; the first count % parts blocks have one element
// more, so block sizes differ by at most one whatever the remainder.
inline Span block_range(size_t count, int parts, int b0, int b1) {
  const size_t base = count / static_cast<size_t>(parts), extra = count % static_cast<size_t>(parts);
  const auto start = [&](int b) {
    const size_t ub = static_cast<size_t>(b);
    return ub * base + std::min(ub, extra);
  };
  return {start(b0), start(b1) - start(b0)};
}
inline Span block(size_t count, int parts, int b) { return block_range(count, parts, b, b + 1); }

inline int mod(int a, int n) { return ((a % n) + n) % n; }

// Largest power of two <= n (n >= 1).
inline int pof2_floor(int n) {
  int p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

// ceil(log2(n)) for n >= 1.
inline int ceil_log2(int n) {
  int k = 0;
  while ((1 << k) < n) ++k;
  return k;
}

// Elements per message for chunked algorithms: c.chunk_bytes rounded down to whole elements, at least one.
inline size_t chunk_elems(const Context& c, size_t esz) { return std::max<size_t>(1, c.chunk_bytes / esz); }
inline size_t num_chunks(size_t len, size_t chunk) { return (len + chunk - 1) / chunk; }
// Chunk k of a span.
inline Span chunk_of(Span s, size_t chunk, size_t k) {
  const size_t o = k * chunk;
  return {s.off + o, std::min(chunk, s.len - o)};
}

inline uint8_t* at(void* base, size_t elems, size_t esz) { return static_cast<uint8_t*>(base) + elems * esz; }
inline const uint8_t* at(const void* base, size_t elems, size_t esz) {
  return static_cast<const uint8_t*>(base) + elems * esz;
}

// ---- posting a span as chunk-sized messages (one request per chunk) ----
// Chunks let the receiver reduce chunk k while chunk k+1 is still in flight, and keep a transport's staging
// (scratch buffers, channel slots) bounded by the chunk size rather than the message size.

inline void post_sends(Context& c, Requests& reqs, int peer, const void* base, Span s, size_t esz, size_t chunk) {
  for (size_t k = 0, n = num_chunks(s.len, chunk); k < n; ++k) {
    const Span ch = chunk_of(s, chunk, k);
    reqs.push_back(c.t.isend(peer, at(base, ch.off, esz), ch.len * esz, c.tag));
  }
}

inline void post_recvs(Context& c, Requests& reqs, int peer, void* base, Span s, size_t esz, size_t chunk) {
  for (size_t k = 0, n = num_chunks(s.len, chunk); k < n; ++k) {
    const Span ch = chunk_of(s, chunk, k);
    reqs.push_back(c.t.irecv(peer, at(base, ch.off, esz), ch.len * esz, c.tag));
  }
}

inline void post_recv_reduces(Context& c, Requests& reqs, int peer, void* base, Span s, DType dtype, ReduceOp op,
                              size_t chunk) {
  const size_t esz = static_cast<size_t>(itemsize(dtype));
  for (size_t k = 0, n = num_chunks(s.len, chunk); k < n; ++k) {
    const Span ch = chunk_of(s, chunk, k);
    reqs.push_back(c.t.irecv_reduce(peer, at(base, ch.off, esz), ch.len, dtype, op, c.tag));
  }
}

// ---- Note [Non-power-of-two ranks] ----
// Recursive halving / doubling pair rank i with i ^ mask, which needs a power-of-two rank count. With
// p = pof2 + rem ranks, the first 2 * rem ranks pair up before the main phase: each even one sends its whole
// buffer to the odd one above it, which folds it in, and sits the main phase out. The remaining pof2 ranks
// (the odd ones below 2 * rem, and every rank from 2 * rem on) are renumbered 0..pof2-1 and run the power-of-two
// algorithm; afterwards each odd rank below 2 * rem sends the finished result back to its even partner. This
// costs two extra whole-buffer messages on 2 * rem ranks, and nothing when p is a power of two.
struct Pof2Plan {
  int pof2 = 1;
  int rem = 0;
  int newrank = -1;  // this rank's number in the main phase; -1 if it sits out
  int partner = -1;  // the fold partner (rank < 2 * rem only), else -1

  // The group rank of main-phase rank nr.
  int real(int nr) const { return nr < rem ? 2 * nr + 1 : nr + rem; }
};

inline Pof2Plan pof2_plan(int rank, int size) {
  Pof2Plan f;
  f.pof2 = pof2_floor(size);
  f.rem = size - f.pof2;
  if (rank < 2 * f.rem) {
    f.partner = rank % 2 == 0 ? rank + 1 : rank - 1;
    f.newrank = rank % 2 == 0 ? -1 : rank / 2;
  } else {
    f.newrank = rank - f.rem;
  }
  return f;
}

// Before the main phase: extra (even) ranks hand their buffer to their partner, which reduces it in.
inline void pof2_fold_in(Context& c, const Pof2Plan& f, void* buf, size_t count, DType dtype, ReduceOp op) {
  if (f.partner < 0) return;
  const size_t esz = static_cast<size_t>(itemsize(dtype)), chunk = chunk_elems(c, esz);
  Requests reqs;
  if (f.newrank < 0) {
    post_sends(c, reqs, f.partner, buf, {0, count}, esz, chunk);
  } else {
    post_recv_reduces(c, reqs, f.partner, buf, {0, count}, dtype, op, chunk);
  }
  wait_all(reqs, c.wait);
}

// After the main phase: the partner sends the finished buffer back to the extra rank.
inline void pof2_fold_out(Context& c, const Pof2Plan& f, void* buf, size_t count, size_t esz) {
  if (f.partner < 0) return;
  const size_t chunk = chunk_elems(c, esz);
  Requests reqs;
  if (f.newrank < 0) {
    post_recvs(c, reqs, f.partner, buf, {0, count}, esz, chunk);
  } else {
    post_sends(c, reqs, f.partner, buf, {0, count}, esz, chunk);
  }
  wait_all(reqs, c.wait);
}

}  // namespace iccrt::comm::algo::detail
