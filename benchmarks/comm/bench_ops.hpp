#pragma once
// The three ways iccrt_bench runs a collective, behind one interface:
//   iccrt  iccrt's own algorithms through ProcessGroup's raw-buffer ops (CPU memory), -a ring|tree|...|auto
//   mpi    the MPI library's collectives on MPI_COMM_WORLD (MPI_Allreduce, ...), the CPU anchor, -a mpi
//   nccl   NCCL through ProcessGroup's tensor ops on CUDA tensors, -a nccl
// The benchmark loop (bench_sweep.cpp) only sees CommBackend, so adding a way is one class here.
#include <memory>
#include <string>

#include "bench_options.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt::bench {

// One op: 1-D views of the send / receive buffers (bench_data.hpp's Layout). In place, both are views of the
// receive buffer.
struct OpCall {
  Tensor in, out;
  size_t count = 0;  // the op's count argument
  bool in_place = false;
};

class CommBackend {
 public:
  virtual ~CommBackend() = default;
  // Where the buffers must live.
  virtual Device device() const { return kCPU; }
  // Starts one op. With Options::blocking it has finished when this returns; otherwise finish() waits.
  virtual void start(const OpCall& call) = 0;
  // Waits for every op started so far (rethrows the first error).
  virtual void finish() = 0;
  // False: the in-place columns say N/A for this collective.
  virtual bool supports_in_place(Collective c) const { return true; }
  // True where in-place reduce_scatter leaves the result in block 0 rather than block rank (MPI_IN_PLACE).
  virtual bool reduce_scatter_result_at_block0() const { return false; }
  // For the all_reduce 'algo' column: the algorithm iccrt's tuner picks for `bytes` ("" when not applicable).
  virtual std::string auto_choice(size_t bytes) const { return ""; }
  // One header line: what runs the ops.
  virtual std::string describe() const = 0;
};

// Creates the backend that Options::backend names. Collective over MPI_COMM_WORLD (the iccrt and nccl backends
// create a ProcessGroup). Throws Unsupported where this build or machine cannot run it.
std::unique_ptr<CommBackend> make_backend(const Options& o, const World& w);

// "Open MPI v4.1.4 (MPI 3.1)".
std::string mpi_library_version();

}  // namespace iccrt::bench
