#pragma once
// Collective algorithms over a point-to-point Transport (one algorithm per file, named after it).
//
// Contract for every function here:
//  - All ranks of `ctx.t` call it with the same arguments (except buffers / root-only arguments).
//  - Buffers are contiguous CPU memory; `count` is in elements of `dtype`; count may be 0 and need not divide
//    by the rank count.
//  - ReduceOp::Avg is treated as Sum; the caller divides.
//  - They are blocking: they return when this rank's part is done; every wait goes through ctx.wait (bounded).
//  - Messages use ctx.tag; sends and receives between a pair are posted in the same order on both sides.
//  - size() == 1 works (a copy when out-of-place).
#include <cstddef>
#include <cstdint>

#include "src/comm/transport.hpp"

namespace iccrt::comm::algo {

struct Context {
  Transport& t;
  const WaitContext& wait;
  uint32_t tag = 0;
  // Pipelining granularity for chunked algorithms (ring, tree, broadcast).
  size_t chunk_bytes = 256 << 10;
};

// ---- all-reduce, in place on buf ----
void allreduce_ring(Context& c, void* buf, size_t count, DType dtype, ReduceOp op);  // allreduce_ring.cpp
void allreduce_tree(Context& c, void* buf, size_t count, DType dtype, ReduceOp op);  // allreduce_tree.cpp
void allreduce_rhd(Context& c, void* buf, size_t count, DType dtype, ReduceOp op);   // allreduce_rhd.cpp
void allreduce_rd(Context& c, void* buf, size_t count, DType dtype, ReduceOp op);    // allreduce_rd.cpp

// ---- the rest ----
// in: size() * count elements; out: count elements (rank r gets block r). out may equal in + r * count.
void reduce_scatter_ring(Context& c, const void* in, void* out, size_t count, DType dtype, ReduceOp op);
// in: count elements; out: size() * count. in may equal out + r * count.
void allgather_ring(Context& c, const void* in, void* out, size_t count, DType dtype);
// Binomial tree, pipelined in chunks. buf is the input at root, the output elsewhere.
void broadcast_tree(Context& c, void* buf, size_t bytes, int root);
// Binomial tree; `out` (count elements) is written at root only (may be null elsewhere). in may equal out.
void reduce_tree(Context& c, const void* in, void* out, size_t count, DType dtype, ReduceOp op, int root);
// Pairwise exchange; in/out: size() * bytes_per_rank bytes. in == out is allowed (uses a scratch copy).
void alltoall_pairwise(Context& c, const void* in, void* out, size_t bytes_per_rank);
// Dissemination barrier: ceil(log2 size) rounds of zero-byte messages.
void barrier_dissemination(Context& c);

}  // namespace iccrt::comm::algo
