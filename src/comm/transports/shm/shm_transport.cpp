#include "src/comm/transports/shm/shm_transport.hpp"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/comm_reduce.hpp"
#include "src/comm/tunables.hpp"

namespace iccrt::comm::shm {

struct ShmTransport::Op {
  bool is_send = false;
  int peer = 0;
  uint32_t tag = 0;
  uint8_t* buf = nullptr;  // send: source; recv: destination
  size_t bytes = 0;
  size_t done = 0;       // bytes moved so far
  bool started = false;  // at least one slot moved (a zero-byte message still moves one slot)
  bool complete = false;
  // Fused receive-reduce.
  bool reduce = false;
  DType dtype = DType::Float32;
  ReduceOp op = ReduceOp::Sum;
};

namespace {

class ShmRequest final : public Request {
 public:
  ShmRequest(ShmTransport& t, std::unique_ptr<ShmTransport::Op> op) : t_(t), op_(std::move(op)) {}
  ~ShmRequest() override {
    if (!op_->complete) t_.forget(op_.get());
  }
  bool test() override {
    if (!op_->complete) t_.progress(op_->peer);
    return op_->complete;
  }
  std::string describe() const override {
    return detail::str(op_->is_send ? "send " : "recv ", op_->bytes, " B ", op_->is_send ? "to" : "from", " rank ",
                       t_.name_of(op_->peer), " (", op_->done, " B moved, tag ", op_->tag, ")");
  }

 private:
  ShmTransport& t_;
  std::unique_ptr<ShmTransport::Op> op_;
};

}  // namespace

ShmTransport::ShmTransport(const Segment& seg, int local_rank, std::vector<int> names)
    : seg_(seg), me_(local_rank), names_(std::move(names)) {
  const Layout& l = seg.layout();
  slot_stride_ = sizeof(SlotHeader) + (l.slot_bytes + kLine - 1) / kLine * kLine;
  out_.resize(l.nlocal);
  in_.resize(l.nlocal);
  sends_.resize(l.nlocal);
  recvs_.resize(l.nlocal);
  broken_.assign(l.nlocal, false);
  for (int p = 0; p < l.nlocal; ++p) {
    if (p == me_) continue;
    out_[p] = channel(me_, p);
    in_[p] = channel(p, me_);
    // Counters persist in the segment across transports of one group; start from where they are.
    out_[p].cached_head = out_[p].head->load(std::memory_order_relaxed);
    in_[p].cached_tail = in_[p].tail->load(std::memory_order_relaxed);
  }
}

ShmTransport::~ShmTransport() = default;

ShmTransport::Channel ShmTransport::channel(int from, int to) const {
  uint8_t* c = seg_.base() + seg_.layout().channel_offset(from, to);
  Channel ch;
  ch.head = reinterpret_cast<std::atomic<uint64_t>*>(c);
  ch.tail = reinterpret_cast<std::atomic<uint64_t>*>(c + kLine);
  ch.slots = c + 2 * kLine;
  return ch;
}

RequestPtr ShmTransport::isend(int peer, const void* buf, size_t bytes, uint32_t tag) {
  ICCRT_ASSERT(peer >= 0 && peer < size() && peer != me_, "bad shm peer ", peer);
  auto op = std::make_unique<Op>();
  op->is_send = true;
  op->peer = peer;
  op->tag = tag;
  op->buf = const_cast<uint8_t*>(static_cast<const uint8_t*>(buf));
  op->bytes = bytes;
  sends_[peer].push_back(op.get());
  auto req = std::make_unique<ShmRequest>(*this, std::move(op));
  return req;
}

RequestPtr ShmTransport::irecv(int peer, void* buf, size_t bytes, uint32_t tag) {
  ICCRT_ASSERT(peer >= 0 && peer < size() && peer != me_, "bad shm peer ", peer);
  auto op = std::make_unique<Op>();
  op->peer = peer;
  op->tag = tag;
  op->buf = static_cast<uint8_t*>(buf);
  op->bytes = bytes;
  recvs_[peer].push_back(op.get());
  return std::make_unique<ShmRequest>(*this, std::move(op));
}

RequestPtr ShmTransport::irecv_reduce(int peer, void* dst, size_t count, DType dtype, ReduceOp rop, uint32_t tag) {
  ICCRT_ASSERT(peer >= 0 && peer < size() && peer != me_, "bad shm peer ", peer);
  auto op = std::make_unique<Op>();
  op->peer = peer;
  op->tag = tag;
  op->buf = static_cast<uint8_t*>(dst);
  op->bytes = count * static_cast<size_t>(itemsize(dtype));
  op->reduce = true;
  op->dtype = dtype;
  op->op = rop;
  recvs_[peer].push_back(op.get());
  return std::make_unique<ShmRequest>(*this, std::move(op));
}

void ShmTransport::forget(Op* op) {
  auto& q = op->is_send ? sends_[op->peer] : recvs_[op->peer];
  auto it = std::find(q.begin(), q.end(), op);
  if (it == q.end()) return;
  // Abandoning a message half-way leaves the channel mid-message; later traffic on it cannot be trusted.
  if (op->started) broken_[op->peer] = true;
  q.erase(it);
}

void ShmTransport::progress(int peer) {
  if (broken_[peer]) {
    throw CommError(detail::str("shared-memory channel with rank ", names_[peer],
                                " is unusable after an earlier failed collective"));
  }
  while (!sends_[peer].empty() && progress_send(peer, *sends_[peer].front())) sends_[peer].pop_front();
  while (!recvs_[peer].empty() && progress_recv(peer, *recvs_[peer].front())) recvs_[peer].pop_front();
}

bool ShmTransport::progress_send(int peer, Op& op) {
  Channel& ch = out_[peer];
  const Layout& l = seg_.layout();
  const uint64_t nslots = static_cast<uint64_t>(l.nslots);
  while (!op.complete) {
    if (ch.cached_head - ch.cached_tail >= nslots) {
      ch.cached_tail = ch.tail->load(std::memory_order_acquire);
      if (ch.cached_head - ch.cached_tail >= nslots) return false;  // channel full
    }
    uint8_t* slot = ch.slots + (ch.cached_head % nslots) * slot_stride_;
    auto* h = reinterpret_cast<SlotHeader*>(slot);
    const size_t n = std::min(l.slot_bytes, op.bytes - op.done);
    h->tag = op.tag;
    h->msg_bytes = op.bytes;
    h->offset = op.done;
    h->chunk_bytes = n;
    if (n) std::memcpy(slot + sizeof(SlotHeader), op.buf + op.done, n);
    op.done += n;
    op.started = true;
    ch.head->store(++ch.cached_head, std::memory_order_release);
    op.complete = op.done == op.bytes;
  }
  return true;
}

bool ShmTransport::progress_recv(int peer, Op& op) {
  Channel& ch = in_[peer];
  const Layout& l = seg_.layout();
  const uint64_t nslots = static_cast<uint64_t>(l.nslots);
  while (!op.complete) {
    if (ch.cached_tail == ch.cached_head) {
      ch.cached_head = ch.head->load(std::memory_order_acquire);
      if (ch.cached_tail == ch.cached_head) return false;  // nothing arrived
    }
    uint8_t* slot = ch.slots + (ch.cached_tail % nslots) * slot_stride_;
    const auto* h = reinterpret_cast<const SlotHeader*>(slot);
    if (h->tag != op.tag || h->msg_bytes != op.bytes || h->offset != op.done) {
      broken_[peer] = true;
      throw CommError(detail::str("mismatched message from rank ", names_[peer], ": expected ", op.bytes,
                                  " B with tag ", op.tag, " at offset ", op.done, ", got a message of ", h->msg_bytes,
                                  " B with tag ", h->tag, " at offset ", h->offset,
                                  " (ranks called different collectives, counts or dtypes; ICCRT_DEBUG=1 "
                                  "reports which)"));
    }
    const size_t n = h->chunk_bytes;
    if (n) {
      const uint8_t* src = slot + sizeof(SlotHeader);
      if (op.reduce) {
        const size_t isz = static_cast<size_t>(itemsize(op.dtype));
        kernels::cpu::comm_reduce_into(op.buf + op.done, src, n / isz, op.dtype, op.op);
      } else {
        std::memcpy(op.buf + op.done, src, n);
      }
    }
    op.done += n;
    op.started = true;
    ch.tail->store(++ch.cached_tail, std::memory_order_release);
    op.complete = op.done == op.bytes;
  }
  return true;
}

}  // namespace iccrt::comm::shm
