#pragma once
// Point-to-point over shared memory between ranks of one machine. Each ordered pair has a channel of
// ICCRT_SHM_SLOTS slots of ICCRT_SHM_SLOT_BYTES; a message is cut into slot-sized chunks. The sender copies into a
// slot and publishes it (head); the receiver copies or reduces straight out of the slot and frees it (tail).
// Single producer / single consumer per channel, so the only synchronisation is two counters.
//
// Ranks of this transport are local indices (0..nlocal-1) on the segment.
#include <deque>
#include <vector>

#include "src/comm/transport.hpp"
#include "src/comm/transports/shm/shm_segment.hpp"

namespace iccrt::comm::shm {

class ShmTransport final : public Transport {
 public:
  // names[i]: the group rank of local index i (for messages).
  ShmTransport(const Segment& seg, int local_rank, std::vector<int> names);
  int name_of(int local) const { return names_[local]; }
  ~ShmTransport() override;

  const char* name() const override { return "shm"; }
  int rank() const override { return me_; }
  int size() const override { return seg_.layout().nlocal; }
  RequestPtr isend(int peer, const void* buf, size_t bytes, uint32_t tag) override;
  RequestPtr irecv(int peer, void* buf, size_t bytes, uint32_t tag) override;
  RequestPtr irecv_reduce(int peer, void* dst, size_t count, DType dtype, ReduceOp op, uint32_t tag) override;

  struct Op;  // one queued send or receive (shm_transport.cpp)
  // Drives the queues of `peer` in both directions; called by the requests' test().
  void progress(int peer);
  void forget(Op* op);  // a request destroyed before it completed

 private:
  struct Channel {
    std::atomic<uint64_t>* head;  // slots published by the sender
    std::atomic<uint64_t>* tail;  // slots released by the receiver
    uint8_t* slots;
    uint64_t cached_head = 0;  // our own copy of the counter we write
    uint64_t cached_tail = 0;
  };
  Channel channel(int from, int to) const;
  bool progress_send(int peer, Op& op);
  bool progress_recv(int peer, Op& op);

  const Segment& seg_;
  int me_;
  std::vector<int> names_;
  size_t slot_stride_;
  std::vector<Channel> out_, in_;               // per peer
  std::vector<std::deque<Op*>> sends_, recvs_;  // per peer, FIFO
  std::vector<bool> broken_;                    // per peer: a message was abandoned half-way
};

}  // namespace iccrt::comm::shm
