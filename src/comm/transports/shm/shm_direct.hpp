#pragma once
// Shared-memory direct collectives for ranks of one machine ("direct"): every member copies its piece of the
// input into its own slot of a shared arena, then each member reduces its slice of the chunk reading every
// peer's slot, then everyone copies the reduced chunk out. Work is pipelined over ICCRT_DIRECT_CHUNK_BYTES
// chunks and `stages` slot sets, so a member that is ahead can fill the next stage while others still read the
// previous one. Small messages skip the middle step: each member reduces the whole (tiny) chunk itself.
//
// Note [Direct progress counters]: each member publishes one counter, 3 * round + phase, where phase 1 = its
// input is posted, 2 = its slice is reduced, 3 = it is done reading the round's shared buffers. A member may
// write stage s = round % stages again once every member reached phase 3 of round - stages.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "src/comm/transports/shm/shm_segment.hpp"
#include "src/comm/wait.hpp"

namespace iccrt::comm::shm {

class DirectArena {
 public:
  // `index`: this rank's position in the arena; `group_ranks`: group rank of each member (for messages).
  DirectArena(const Segment& seg, int arena, int index, std::vector<int> group_ranks);

  int rank() const { return me_; }
  int size() const { return m_; }

  // Semantics as the ProcessGroup ops, over the arena's members. Avg folds as Sum (the caller divides).
  void all_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, const WaitContext& w);
  void reduce_scatter(const void* in, void* out, size_t count, DType dtype, ReduceOp op, const WaitContext& w);
  void all_gather(const void* in, void* out, size_t bytes, const WaitContext& w);
  void broadcast(void* buf, size_t bytes, int root, const WaitContext& w);
  void reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int root, const WaitContext& w);
  void barrier(const WaitContext& w);

  // Messages at or below this many bytes take the one-step all-reduce.
  static constexpr size_t kOneStepBytes = 32 << 10;

 private:
  std::atomic<uint64_t>& counter(int m) const;
  // Each member's line also carries what it is running (op kind and total bytes), written before it posts a
  // round and compared by its peers after, so ranks that disagree fail instead of mixing different data.
  void set_signature(uint32_t kind, uint64_t bytes);
  void check_signature(int member, uint32_t kind, uint64_t bytes) const;
  uint8_t* in_slot(int m, int stage) const;
  uint8_t* out_slot(int stage) const;
  // Starts a round: waits until its stage is free; returns the round number.
  uint64_t begin_round(const WaitContext& w);
  void publish(uint64_t round, int phase);
  // Phase 1 of a round: sign, post, wait for every member, and check that they all run the same op and size.
  void post_and_wait_all(uint64_t round, uint32_t kind, uint64_t bytes, const WaitContext& w);
  void wait_all(uint64_t round, int phase, const WaitContext& w);
  void wait_one(int member, uint64_t round, int phase, const WaitContext& w);

  uint8_t* base_ = nullptr;
  int m_ = 0;
  int me_ = 0;
  int stages_ = 0;
  size_t chunk_ = 0;  // bytes per slot
  size_t slot_stride_ = 0;
  std::vector<int> group_ranks_;
  std::vector<const void*> srcs_;  // scratch for the reductions (no allocation per call)
  uint64_t round_ = 0;
};

}  // namespace iccrt::comm::shm
