#pragma once
// NCCL backend for CUDA tensors of a ProcessGroup. Built only with CUDA (ICCRT_HAVE_CUDA); the process group
// creates it lazily on the first CUDA-tensor op (a collective call on every rank).
//
// Ops are enqueued on the tensor's current stream (iccrt uses the legacy default stream, see
// src/core/cuda_runtime.hpp) and return a Work whose wait() polls a CUDA event and ncclCommGetAsyncError with the
// group's timeout; on timeout or an asynchronous NCCL error the communicator is aborted and CommTimeout /
// CommError is raised naming the op, the group and the sequence number.
//
// Algorithm::Ring / Algorithm::Tree are passed through to NCCL: each one gets its own communicator created with
// NCCL_ALGO set to it (NCCL reads that variable at communicator creation), made on first use. Auto uses NCCL's
// own choice.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "iccrt/comm/types.hpp"
#include "iccrt/comm/work.hpp"

namespace iccrt::comm {

class NcclBackend {
 public:
  // Returns rank 0's bytes on every rank (the group's CPU broadcast); used to share ncclUniqueId.
  using BroadcastFn = std::function<std::string(const std::string& mine)>;

  NcclBackend(int rank, int size, std::string group_name, std::chrono::milliseconds timeout, BroadcastFn broadcast);
  ~NcclBackend();

  // Device pointers on `device`; counts in elements. Semantics as ProcessGroup's raw-buffer ops.
  // `description` is the op's text for errors ("all_reduce (float32 x 1024) on group 'world' seq 7").
  WorkPtr all_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int device, Algorithm algo,
                     std::string description);
  WorkPtr reduce_scatter(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int device,
                         std::string description);
  WorkPtr all_gather(const void* in, void* out, size_t count, DType dtype, int device, std::string description);
  WorkPtr broadcast(void* buf, size_t count, DType dtype, int root, int device, std::string description);
  WorkPtr reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int root, int device,
                 std::string description);
  WorkPtr all_to_all(const void* in, void* out, size_t count, DType dtype, int device, std::string description);
  WorkPtr send(const void* buf, size_t count, DType dtype, int peer, int device, std::string description);
  WorkPtr recv(void* buf, size_t count, DType dtype, int peer, int device, std::string description);

  // NCCL's version as "2.x.y".
  static std::string version();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iccrt::comm
