#pragma once
// Sizes, buffer layouts and the correctness check of one measurement.
//
// Sizes follow nccl-tests (its *GetCollByteCount and *GetBw functions, doc/PERFORMANCE.md): the size given on
// the command line is the larger of the per-rank send and receive buffers; `count` is the op's count argument.
//   all_reduce      count = size/T              algbw = count*T / t          busbw = algbw * 2(n-1)/n
//   all_gather      count = size/T/n (sent)     algbw = n*count*T / t        busbw = algbw * (n-1)/n
//   reduce_scatter  count = size/T/n (received) algbw = n*count*T / t        busbw = algbw * (n-1)/n
//   all_to_all      count = size/T/n (per peer) algbw = n*count*T / t        busbw = algbw * (n-1)/n
//   broadcast, reduce, sendrecv  count = size/T algbw = count*T / t          busbw = algbw
//
// Check values are small integers, so every partial sum and product is exact in every dtype (bfloat16 holds
// integers up to 256 exactly): sums, min, max and prod must match bit for bit whatever order the algorithm
// reduces in; avg is allowed one rounding of the dtype.
#include <cstddef>

#include "bench_options.hpp"

namespace iccrt::bench {

struct CollSizes {
  size_t count = 0;       // the op's count argument
  size_t send_count = 0;  // elements the op reads from the send buffer
  size_t recv_count = 0;  // elements the op writes into the receive buffer
  size_t size_bytes = 0;  // the "size" column: max(send, recv) * sizeof(T)
  double alg_bytes = 0;   // algbw = alg_bytes / time
  double bus_factor = 1;  // busbw = algbw * bus_factor
};
CollSizes coll_sizes(Collective c, uint64_t bytes, DType dtype, int nranks);

// Where an op reads and writes: element ranges of the send buffer (S) or the receive buffer (R). Out of place
// the op reads S and writes R; in place both ranges lie in R, as nccl-tests places them (all_gather reads block
// `rank` of R; reduce_scatter writes block `rank` of R, or block 0 where the backend's in-place form puts the
// result there, as MPI_Reduce_scatter_block with MPI_IN_PLACE does).
struct Range {
  bool in_recv = false;
  size_t offset = 0;
  size_t count = 0;
};
struct Layout {
  Range in, out;
  size_t count = 0;  // the op's count argument
};
Layout op_layout(Collective c, const CollSizes& s, bool in_place, int rank, bool reduce_scatter_result_at_block0);

// Elements both buffers need for every size up to `max_bytes`.
size_t buffer_elements(Collective c, uint64_t max_bytes, DType dtype, int nranks);

struct CheckSpec {
  Collective collective;
  comm::ReduceOp op;
  DType dtype;
  int rank, nranks, root;
};

// Writes this rank's input pattern into its input range and a sentinel (NaN, or the integer minimum) over the
// rest of both buffers' first `elements` elements, so an output the op never wrote is caught.
void fill_buffers(const CheckSpec& spec, const Layout& layout, void* send, void* recv, size_t elements);
// Number of elements of the output range that differ from the expected result (0 where this rank has no output:
// reduce on a non-root rank).
size_t count_wrong(const CheckSpec& spec, const Layout& layout, const void* send, const void* recv);

}  // namespace iccrt::bench
