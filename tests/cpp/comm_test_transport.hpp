#pragma once
// A test-only Transport: N ranks as threads of this process, exchanging messages through mailboxes in memory.
// It lets the collective algorithms be tested for every rank count without a launcher or shared memory
// segments, and it is deliberately strict so that algorithm bugs surface as failures instead of luck:
//   - messages on one ordered pair match receives in posting order, whatever order the receives are tested in
//     (each receive is given its sequence number when posted);
//   - a receive that meets a message with another tag or size throws CommError naming both;
//   - two send modes. Eager: isend copies the payload into the mailbox at once and is complete (the sender may
//     reuse its buffer immediately); irecv completes inside test() once its message is there. Rendezvous: isend
//     only records the buffer, the matching receive copies straight out of it, and the send completes only
//     then. That is how large messages behave on MPI and bounded shared-memory channels, and it catches two
//     classes of bugs eager mode hides: waiting for a send before posting the receive it depends on (a
//     deadlock, so a timeout), and writing into a buffer whose send has not completed (wrong data).
// irecv_reduce is not overridden, so the default one in transport.cpp is what gets tested.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "iccrt/comm/types.hpp"
#include "iccrt/core/dtype.hpp"
#include "iccrt/core/half.hpp"
#include "src/comm/transport.hpp"

namespace iccrt::comm::test {

enum class SendMode { Eager, Rendezvous };

// The mailboxes shared by the ranks of one run.
class ThreadFabric {
 public:
  explicit ThreadFabric(int n, SendMode mode = SendMode::Eager)
      : n_(n), mode_(mode), channels_(static_cast<size_t>(n) * n) {
    for (auto& ch : channels_) ch = std::make_unique<Channel>();
  }
  int size() const { return n_; }
  SendMode mode() const { return mode_; }

  // A rendezvous send: the sender's buffer, read by the receiver. Guarded by the channel's mutex.
  struct PendingSend {
    const void* buf = nullptr;
    bool done = false;       // the receiver has copied it
    bool abandoned = false;  // the send request was destroyed first: buf may be gone
  };
  struct Message {
    uint32_t tag = 0;
    size_t bytes = 0;
    std::vector<uint8_t> data;          // eager
    std::shared_ptr<PendingSend> send;  // rendezvous
  };
  // Messages from `src` to `dst`, keyed by their sequence number on that pair.
  struct Channel {
    std::mutex mu;
    std::map<uint64_t, Message> messages;
    uint64_t next_send = 0;  // touched by the sender only, but kept under mu for simplicity
    uint64_t next_recv = 0;  // touched by the receiver only
  };
  Channel& channel(int src, int dst) { return *channels_[static_cast<size_t>(src) * n_ + dst]; }

  // Total messages sent, for tests that check an algorithm's message count.
  uint64_t messages_sent() const { return sent_.load(); }
  void count_send() { sent_.fetch_add(1); }
  // Messages sent but never received: after a clean run this must be 0 (an algorithm that sends more than its
  // peers receive would otherwise go unnoticed until the next collective on the same pair got the wrong data).
  size_t undelivered() {
    size_t n = 0;
    for (auto& ch : channels_) {
      std::lock_guard<std::mutex> lock(ch->mu);
      n += ch->messages.size();
    }
    return n;
  }

 private:
  int n_;
  SendMode mode_;
  std::vector<std::unique_ptr<Channel>> channels_;
  std::atomic<uint64_t> sent_{0};
};

class ThreadTransport final : public Transport {
 public:
  ThreadTransport(ThreadFabric& fabric, int rank) : fabric_(fabric), rank_(rank) {}

  const char* name() const override { return "threads"; }
  int rank() const override { return rank_; }
  int size() const override { return fabric_.size(); }

  RequestPtr isend(int peer, const void* buf, size_t bytes, uint32_t tag) override {
    check_peer(peer);
    ThreadFabric::Message m;
    m.tag = tag;
    m.bytes = bytes;
    std::shared_ptr<ThreadFabric::PendingSend> pending;
    if (fabric_.mode() == SendMode::Eager) {
      if (bytes > 0) m.data.assign(static_cast<const uint8_t*>(buf), static_cast<const uint8_t*>(buf) + bytes);
    } else {
      pending = std::make_shared<ThreadFabric::PendingSend>();
      pending->buf = buf;
      m.send = pending;
    }
    auto& ch = fabric_.channel(rank_, peer);
    {
      std::lock_guard<std::mutex> lock(ch.mu);
      ch.messages.emplace(ch.next_send++, std::move(m));
    }
    fabric_.count_send();
    return std::make_unique<Send>(ch, std::move(pending), bytes, peer);
  }

  RequestPtr irecv(int peer, void* buf, size_t bytes, uint32_t tag) override {
    check_peer(peer);
    auto& ch = fabric_.channel(peer, rank_);
    uint64_t seq;
    {
      std::lock_guard<std::mutex> lock(ch.mu);
      seq = ch.next_recv++;
    }
    return std::make_unique<Recv>(ch, seq, peer, buf, bytes, tag);
  }

 private:
  void check_peer(int peer) const {
    if (peer < 0 || peer >= size() || peer == rank_) {
      throw CommError("rank " + std::to_string(rank_) + ": bad peer " + std::to_string(peer) + " in a group of " +
                      std::to_string(size()));
    }
  }

  class Send final : public Request {
   public:
    Send(ThreadFabric::Channel& ch, std::shared_ptr<ThreadFabric::PendingSend> pending, size_t bytes, int peer)
        : ch_(ch), pending_(std::move(pending)), bytes_(bytes), peer_(peer) {}
    ~Send() override {
      if (!pending_) return;
      std::lock_guard<std::mutex> lock(ch_.mu);
      if (!pending_->done) pending_->abandoned = true;
    }
    bool test() override {
      if (!pending_) return true;  // eager: complete when posted
      std::lock_guard<std::mutex> lock(ch_.mu);
      return pending_->done;
    }
    std::string describe() const override {
      return "send " + std::to_string(bytes_) + " B to rank " + std::to_string(peer_);
    }

   private:
    ThreadFabric::Channel& ch_;
    std::shared_ptr<ThreadFabric::PendingSend> pending_;
    size_t bytes_;
    int peer_;
  };

  class Recv final : public Request {
   public:
    Recv(ThreadFabric::Channel& ch, uint64_t seq, int peer, void* buf, size_t bytes, uint32_t tag)
        : ch_(ch), seq_(seq), peer_(peer), buf_(buf), bytes_(bytes), tag_(tag) {}
    bool test() override {
      if (done_) return true;
      std::lock_guard<std::mutex> lock(ch_.mu);
      auto it = ch_.messages.find(seq_);
      if (it == ch_.messages.end()) return false;
      ThreadFabric::Message& m = it->second;
      if (m.tag != tag_ || m.bytes != bytes_) {
        throw CommError(describe() + " (tag " + std::to_string(tag_) + ") met a message of " + std::to_string(m.bytes) +
                        " B with tag " + std::to_string(m.tag));
      }
      if (m.send) {
        if (m.send->abandoned) throw CommError(describe() + ": the sender abandoned the message");
        if (bytes_ > 0) std::memcpy(buf_, m.send->buf, bytes_);
        m.send->done = true;
      } else if (bytes_ > 0) {
        std::memcpy(buf_, m.data.data(), bytes_);
      }
      ch_.messages.erase(it);
      done_ = true;
      return true;
    }
    std::string describe() const override {
      return "recv " + std::to_string(bytes_) + " B from rank " + std::to_string(peer_);
    }

   private:
    ThreadFabric::Channel& ch_;
    uint64_t seq_;
    int peer_;
    void* buf_;
    size_t bytes_;
    uint32_t tag_;
    bool done_ = false;
  };

  ThreadFabric& fabric_;
  int rank_;
};

// Runs fn(transport, rank) on n threads, one per rank, over `fabric`, and joins them all. Returns each rank's
// exception (null where it returned normally).
inline std::vector<std::exception_ptr> run_ranks_collect(ThreadFabric& fabric,
                                                         const std::function<void(Transport&, int)>& fn) {
  const int n = fabric.size();
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      ThreadTransport t(fabric, r);
      try {
        fn(t, r);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  }
  for (auto& th : threads) th.join();
  return errors;
}

// Runs fn(transport, rank) on n threads and rethrows the first exception any rank raised (the first in time,
// which is usually the cause; the others tend to be timeouts it provoked). After a clean run, a message that was
// sent but never received is an error too.
inline void run_ranks(int n, const std::function<void(Transport&, int)>& fn, SendMode mode = SendMode::Eager) {
  ThreadFabric fabric(n, mode);
  std::mutex mu;
  std::exception_ptr first;
  run_ranks_collect(fabric, [&](Transport& t, int r) {
    try {
      fn(t, r);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!first) first = std::current_exception();
      throw;
    }
  });
  if (first) std::rethrow_exception(first);
  if (const size_t left = fabric.undelivered(); left != 0) {
    throw CommError(std::to_string(left) + " message(s) were sent but never received");
  }
}

// A wait context for tests: bounded, so a bug in an algorithm fails the test instead of hanging it.
inline WaitContext test_wait(std::chrono::milliseconds timeout = std::chrono::seconds(30),
                             std::string what = "collective under test") {
  WaitContext w;
  w.deadline = std::chrono::steady_clock::now() + timeout;
  w.describe = [what] { return what; };
  return w;
}

// ---- typed host buffers for collective tests ----
// Raw bytes of one of the reducible dtypes, read and written as double (floats; exact for every value a 16-bit
// or 32-bit float holds) or as int64 (integers; exact, and written values wrap to the dtype's width like the
// kernels do).
class HostBuf {
 public:
  HostBuf() = default;
  HostBuf(DType dtype, size_t n) : dtype_(dtype), bytes_(n * static_cast<size_t>(itemsize(dtype))) {}

  DType dtype() const { return dtype_; }
  size_t size() const { return bytes_.size() / static_cast<size_t>(itemsize(dtype_)); }
  size_t nbytes() const { return bytes_.size(); }
  void* data() { return bytes_.data(); }
  const void* data() const { return bytes_.data(); }
  bool operator==(const HostBuf& o) const { return dtype_ == o.dtype_ && bytes_ == o.bytes_; }

  double get(size_t i) const {
    switch (dtype_) {
      case DType::Float32:
        return load<float>(i);
      case DType::Float64:
        return load<double>(i);
      case DType::Float16:
        return static_cast<float>(load<Half>(i));
      case DType::BFloat16:
        return static_cast<float>(load<BFloat16>(i));
      default:
        return static_cast<double>(get_int(i));
    }
  }
  // Stores v rounded to the dtype (through float for the 16-bit types, so pass float-representable values).
  void set(size_t i, double v) {
    switch (dtype_) {
      case DType::Float32:
        return store(i, static_cast<float>(v));
      case DType::Float64:
        return store(i, v);
      case DType::Float16:
        return store(i, Half(static_cast<float>(v)));
      case DType::BFloat16:
        return store(i, BFloat16(static_cast<float>(v)));
      default:
        return set_int(i, static_cast<int64_t>(v));
    }
  }
  int64_t get_int(size_t i) const {
    return dtype_ == DType::Int32 ? static_cast<int64_t>(load<int32_t>(i)) : load<int64_t>(i);
  }
  void set_int(size_t i, int64_t v) {
    if (dtype_ == DType::Int32) {
      store(i, static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(v))));
    } else {
      store(i, v);
    }
  }

 private:
  template <class T>
  T load(size_t i) const {
    T v;
    std::memcpy(&v, bytes_.data() + i * sizeof(T), sizeof(T));
    return v;
  }
  template <class T>
  void store(size_t i, T v) {
    std::memcpy(bytes_.data() + i * sizeof(T), &v, sizeof(T));
  }

  DType dtype_ = DType::Float32;
  std::vector<uint8_t> bytes_;
};

}  // namespace iccrt::comm::test
