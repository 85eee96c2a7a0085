// Shared parts of the point-to-point layer: the default fused receive-reduce and the wait loops.
#include "src/comm/transport.hpp"

#include "kernels/cpu/comm_reduce.hpp"

namespace iccrt::comm {

namespace {

// Receives into its own buffer, then folds it into dst once complete.
class RecvReduceRequest final : public Request {
 public:
  RecvReduceRequest(Transport& t, int peer, void* dst, size_t count, DType dtype, ReduceOp op, uint32_t tag)
      : dst_(dst), count_(count), dtype_(dtype), op_(op), scratch_(count * itemsize(dtype)) {
    inner_ = t.irecv(peer, scratch_.data(), scratch_.size(), tag);
  }
  bool test() override {
    if (reduced_) return true;
    if (!inner_->test()) return false;
    kernels::cpu::comm_reduce_into(dst_, scratch_.data(), count_, dtype_, op_);
    reduced_ = true;
    return true;
  }
  std::string describe() const override { return inner_->describe(); }

 private:
  void* dst_;
  size_t count_;
  DType dtype_;
  ReduceOp op_;
  std::vector<uint8_t> scratch_;
  RequestPtr inner_;
  bool reduced_ = false;
};

}  // namespace

RequestPtr Transport::irecv_reduce(int peer, void* dst, size_t count, DType dtype, ReduceOp op, uint32_t tag) {
  return std::make_unique<RecvReduceRequest>(*this, peer, dst, count, dtype, op, tag);
}

void wait_all(std::vector<RequestPtr>& reqs, const WaitContext& ctx) {
  size_t pending = 0;
  for (auto& r : reqs) pending += r != nullptr;
  wait_until(
      [&] {
        // Drive every request each round: progress on one (a send filling a channel) may be what lets a peer
        // progress on the one we need.
        for (auto& r : reqs) {
          if (r && r->test()) {
            r.reset();
            --pending;
          }
        }
        return pending == 0;
      },
      ctx,
      [&] {
        std::string s;
        for (auto& r : reqs) {
          if (r) s += (s.empty() ? "" : ", ") + r->describe();
        }
        return s;
      });
  reqs.clear();
}

void wait_one(RequestPtr& req, const WaitContext& ctx) {
  if (!req) return;
  std::vector<RequestPtr> v;
  v.push_back(std::move(req));
  wait_all(v, ctx);
}

void send_recv(Transport& t, int send_peer, const void* sbuf, size_t sbytes, int recv_peer, void* rbuf, size_t rbytes,
               uint32_t tag, const WaitContext& ctx) {
  std::vector<RequestPtr> reqs;
  reqs.push_back(t.irecv(recv_peer, rbuf, rbytes, tag));
  reqs.push_back(t.isend(send_peer, sbuf, sbytes, tag));
  wait_all(reqs, ctx);
}

}  // namespace iccrt::comm
