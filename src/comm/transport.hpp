#pragma once
// Point-to-point transport: what every algorithm in comm/algorithms/ is written against.
//
// Ranks are the group's ranks 0..size()-1. Messages between one ordered pair (a -> b) are matched in the order
// they were posted (FIFO on both sides); `tag` is not used for matching but is checked: a receive that meets a
// message with another tag or size fails with CommError naming both (this is how ranks that disagree are
// caught). Requests make progress only inside test(), so an algorithm posts its sends and receives and then
// waits on all of them with wait_all(): a send never has to finish before the matching receive is posted.
//
// Transports: transports/shm (co-located ranks, bounded shared-memory channels), transports/mpi (MPI_Isend /
// MPI_Irecv, polled with MPI_Test), and Router (per peer, whichever of the two reaches it).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "iccrt/comm/types.hpp"
#include "src/comm/wait.hpp"

namespace iccrt::comm {

class Request {
 public:
  virtual ~Request() = default;
  // Makes whatever progress is possible without blocking; true once complete. Throws CommError on failure.
  virtual bool test() = 0;
  // "send 4096 B to rank 3" / "recv 4096 B from rank 1": used in timeout messages.
  virtual std::string describe() const = 0;
};
using RequestPtr = std::unique_ptr<Request>;

class Transport {
 public:
  virtual ~Transport() = default;
  virtual const char* name() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // `buf` must stay valid until the request completes. bytes may be 0 (the message still travels, so sizes
  // and tags are still checked). peer != rank().
  virtual RequestPtr isend(int peer, const void* buf, size_t bytes, uint32_t tag) = 0;
  virtual RequestPtr irecv(int peer, void* buf, size_t bytes, uint32_t tag) = 0;
  // Receives `count` elements and folds them into dst: dst[i] = op(dst[i], incoming[i]) (Avg folds as Sum).
  // The default receives into a scratch buffer and reduces when complete; shm overrides it to reduce straight
  // out of its channel slots (one memory pass fewer).
  virtual RequestPtr irecv_reduce(int peer, void* dst, size_t count, DType dtype, ReduceOp op, uint32_t tag);
};

// Waits until every request completed (null entries are skipped), driving progress on all of them.
void wait_all(std::vector<RequestPtr>& reqs, const WaitContext& ctx);
void wait_one(RequestPtr& req, const WaitContext& ctx);

// Blocking helpers for algorithms.
void send_recv(Transport& t, int send_peer, const void* sbuf, size_t sbytes, int recv_peer, void* rbuf, size_t rbytes,
               uint32_t tag, const WaitContext& ctx);

}  // namespace iccrt::comm
