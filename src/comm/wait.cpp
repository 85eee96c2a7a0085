// Bounded waiting for the collective layer (see wait.hpp).
//
// Note [Waiting on shared cores]: ranks are routinely oversubscribed (4 ranks on 2 cores in our own tests), so a
// waiter that only spins steals the core from the very peer it waits for. We spin for ICCRT_SPIN iterations
// (the fast path when every rank has a core), then sched_yield() for a few milliseconds, then sleep in growing
// steps up to 1 ms so that a long wait (a slow or missing peer) costs almost no CPU.
#include "src/comm/wait.hpp"

#include <sched.h>
#include <time.h>

#include <thread>

#include "src/comm/tunables.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ICCRT_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define ICCRT_CPU_RELAX() asm volatile("yield")
#else
#define ICCRT_CPU_RELAX() ((void)0)
#endif

namespace iccrt::comm {

using Clock = std::chrono::steady_clock;

WaitContext WaitContext::with_timeout(std::chrono::milliseconds t, std::string what) {
  WaitContext w;
  w.deadline = Clock::now() + t;
  w.describe = [what = std::move(what)] { return what; };
  return w;
}

void WaitContext::raise_timeout(const std::string& waiting_for) const {
  std::string msg = what() + ": timed out";
  if (!waiting_for.empty()) msg += " waiting for " + waiting_for;
  if (missing) {
    const std::string m = missing();
    if (!m.empty()) msg += "; " + m;
  }
  msg += " (ICCRT_TIMEOUT sets the limit)";
  throw CommTimeout(msg);
}

namespace internal {

void Backoff::pause(const std::function<std::string()>& waiting_for) {
  const int spin_limit = tunables().spin_count;
  if (spins_ < static_cast<uint32_t>(spin_limit)) {
    ++spins_;
    ICCRT_CPU_RELAX();
    return;
  }
  const auto now = Clock::now();
  if (spins_ == static_cast<uint32_t>(spin_limit)) {
    // First time past the spin phase: start the clocks.
    ++spins_;
    started_ = now;
    next_check_ = now + std::chrono::milliseconds(10);
  }
  if (now >= ctx_.deadline) ctx_.raise_timeout(waiting_for ? waiting_for() : std::string());
  if (now >= next_check_) {
    if (ctx_.check_peers) ctx_.check_peers();
    next_check_ = now + std::chrono::milliseconds(10);
  }
  const auto waited = now - started_;
  if (waited < std::chrono::milliseconds(5)) {
    sched_yield();
  } else {
    // Grow the sleep with the time already waited: 20 us .. 1 ms.
    const auto us = std::min<int64_t>(1000, 20 + std::chrono::duration_cast<std::chrono::microseconds>(waited).count() / 100);
    timespec ts{0, static_cast<long>(us * 1000)};
    nanosleep(&ts, nullptr);
  }
}

}  // namespace internal
}  // namespace iccrt::comm
