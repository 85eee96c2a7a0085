#pragma once
// ProcessGroup: a set of ranks that run collectives together.
//
// Creation is collective: every rank of the parent (or of the launch) calls it. CPU buffers and tensors go
// through iccrt's own algorithms over shared memory (ranks on one host) and MPI point-to-point (ranks on other
// hosts); CUDA tensors go through NCCL. Every op is asynchronous: it is queued to the group's worker thread and
// returns a Work; ops of one group run in the order they were issued, ops of different groups concurrently.
//
// Buffers passed to an op must stay alive and untouched until its Work completes.
// Counts are in elements of `dtype`. For reduce_scatter, `in` holds size() * count elements and `out` count;
// for all_gather, `in` holds count and `out` size() * count (rank r's block at r * count); for all_to_all,
// `in` and `out` hold size() * count, block j of `in` goes to rank j and lands at block rank() of its `out`.
// in == out makes an op in place (reduce_scatter: out may be block rank() of in; all_gather: in may be block
// rank() of out).
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "iccrt/comm/store.hpp"
#include "iccrt/comm/types.hpp"
#include "iccrt/comm/work.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt::comm {

struct ProcessGroupOptions {
  std::string name;  // shown in errors and the flight recorder; default "world" / "<parent>/<n>"
  std::chrono::milliseconds timeout = default_timeout();
  bool debug = debug_checks_enabled();  // check that every rank calls the same op, count, dtype, root
  // Host this rank counts as for topology (hierarchical algorithms). Empty: this machine's identity. Tests set
  // it to pretend ranks of one machine sit on several hosts.
  std::string host_id;
  // Point-to-point transport between ranks of one machine: "auto" (shared memory), "shm" or "mpi" (forces MPI
  // even between co-located ranks; needs an MPI launch). Ranks on different machines always use MPI.
  std::string transport = "auto";
};

class ICCRT_API ProcessGroup : public std::enable_shared_from_this<ProcessGroup> {
 public:
  // Ranks that share a Store (TcpStore, or HashStore for ranks as threads of one process).
  static std::shared_ptr<ProcessGroup> create(int rank, int size, std::shared_ptr<Store> store,
                                              ProcessGroupOptions opts = {});
  // From the launcher's environment: mpirun (any MPI), Slurm srun, or torchrun-style RANK / WORLD_SIZE /
  // MASTER_ADDR / MASTER_PORT. Without any of them: a group of one.
  static std::shared_ptr<ProcessGroup> from_environment(ProcessGroupOptions opts = {});

  virtual ~ProcessGroup();

  int rank() const;
  int size() const;
  const std::string& name() const;
  std::chrono::milliseconds timeout() const;
  // Ranks of this group as ranks of the world group.
  const std::vector<int>& world_ranks() const;

  // Collective over this group. Ranks with the same color form a new group, ordered by (key, rank); a negative
  // color returns nullptr (the rank joins no group).
  std::shared_ptr<ProcessGroup> split(int color, int key, ProcessGroupOptions opts = {});
  // Collective over this group: every rank calls it with the same list; non-members get nullptr.
  std::shared_ptr<ProcessGroup> new_group(const std::vector<int>& ranks, ProcessGroupOptions opts = {});

  // ---- raw CPU buffers ----
  WorkPtr all_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, CollectiveOptions o = {});
  WorkPtr reduce_scatter(const void* in, void* out, size_t count, DType dtype, ReduceOp op, CollectiveOptions o = {});
  WorkPtr all_gather(const void* in, void* out, size_t count, DType dtype, CollectiveOptions o = {});
  WorkPtr broadcast(void* buf, size_t count, DType dtype, int root, CollectiveOptions o = {});
  // Only `root`'s out is written (others may pass nullptr).
  WorkPtr reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int root, CollectiveOptions o = {});
  WorkPtr all_to_all(const void* in, void* out, size_t count, DType dtype, CollectiveOptions o = {});
  WorkPtr send(const void* buf, size_t count, DType dtype, int dst, int tag = 0);
  WorkPtr recv(void* buf, size_t count, DType dtype, int src, int tag = 0);
  WorkPtr barrier();

  // ---- tensors (CPU: any layout, non-contiguous ones go through a contiguous copy; CUDA: NCCL) ----
  WorkPtr all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum, CollectiveOptions o = {});
  WorkPtr reduce_scatter(Tensor& out, const Tensor& in, ReduceOp op = ReduceOp::Sum, CollectiveOptions o = {});
  WorkPtr all_gather(Tensor& out, const Tensor& in, CollectiveOptions o = {});
  WorkPtr broadcast(Tensor& t, int root, CollectiveOptions o = {});
  WorkPtr reduce(Tensor& t, int root, ReduceOp op = ReduceOp::Sum, CollectiveOptions o = {});
  WorkPtr all_to_all(Tensor& out, const Tensor& in, CollectiveOptions o = {});
  WorkPtr send(const Tensor& t, int dst, int tag = 0);
  WorkPtr recv(Tensor& t, int src, int tag = 0);

  // The last collectives of this group (op, size, sequence number, state, times), oldest first.
  std::string flight_record() const;
  // The algorithm Auto would pick for an all-reduce of `bytes` (for benchmarks and docs).
  Algorithm tuned_all_reduce_algorithm(size_t bytes) const;
  // Waits for queued ops, then leaves the group: peers still waiting on this rank fail at once, naming it.
  void shutdown();

  struct Impl;
  explicit ProcessGroup(std::unique_ptr<Impl> impl);
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace iccrt::comm
