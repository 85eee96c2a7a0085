#pragma once
// Bounded waiting. Every blocking wait in comm/ goes through wait_until(): it spins briefly, then yields the core
// (ranks are often oversubscribed), checks the deadline, and every few milliseconds asks the group whether a peer
// died or left. On timeout it throws CommTimeout with the op, group, sequence number and the ranks that did not
// arrive (computed by the group when the wait fails, so the common path pays nothing for it).
#include <chrono>
#include <functional>
#include <string>

#include "iccrt/comm/types.hpp"

namespace iccrt::comm {

struct WaitContext {
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // "all_reduce (float32 x 1024, ring) on group 'world' seq 17"; used as the start of every error message.
  std::function<std::string()> describe;
  // Called on timeout: who has not arrived ("ranks 2, 3 did not arrive (at seq 16)"). May be empty.
  std::function<std::string()> missing;
  // Called every few ms while waiting; throws CommError if a peer died or left the group. May be empty.
  std::function<void()> check_peers;

  static WaitContext with_timeout(std::chrono::milliseconds t, std::string what);
  std::string what() const { return describe ? describe() : std::string("wait"); }
  [[noreturn]] void raise_timeout(const std::string& waiting_for) const;
};

// Calls done() until it returns true. waiting_for() names what is awaited ("recv 4096 B from rank 3"); it is
// called only when the wait times out. done() may throw; the exception propagates.
template <class Done>
void wait_until(Done&& done, const WaitContext& ctx, std::function<std::string()> waiting_for);

namespace internal {
// State of one wait loop: spin count, next peer check, deadline. Keeps the template small.
class Backoff {
 public:
  explicit Backoff(const WaitContext& ctx) : ctx_(ctx) {}
  // Pause / yield; checks peers and the deadline now and then. Throws on timeout or dead peer.
  void pause(const std::function<std::string()>& waiting_for);

 private:
  const WaitContext& ctx_;
  uint32_t spins_ = 0;
  std::chrono::steady_clock::time_point started_{};
  std::chrono::steady_clock::time_point next_check_{};
};
}  // namespace internal

template <class Done>
void wait_until(Done&& done, const WaitContext& ctx, std::function<std::string()> waiting_for) {
  if (done()) return;
  internal::Backoff b(ctx);
  while (!done()) b.pause(waiting_for);
}

}  // namespace iccrt::comm
