// Bounded waiting for the collective layer (see wait.hpp).
//
// Note [Waiting on shared cores]: ranks are routinely oversubscribed (4 ranks on 2 cores in our own tests), so a
// waiter that only spins steals the core from the very peer it waits for. We spin for ICCRT_SPIN iterations
// (the fast path when every rank has a core), then sched_yield() for a few milliseconds, then sleep in growing
// steps up to 1 ms so that a long wait (a slow or missing peer) costs almost no CPU.
#include "src/comm/wait.hpp"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
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

namespace {
std::atomic<int> g_max_colocated{1};
int online_cpus() {
  static const int n = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
    return 1;
  }();
  return n;
}
}  // namespace

void note_colocated_ranks(int n) {
  int cur = g_max_colocated.load();
  while (n > cur && !g_max_colocated.compare_exchange_weak(cur, n)) {
  }
}

int spin_iterations() {
  const int fixed = tunables().spin_count;
  if (fixed >= 0) return fixed;
  // ~50 us of pause instructions with a core each; a few when oversubscribed (Note [Spinning or yielding]).
  return g_max_colocated.load(std::memory_order_relaxed) <= online_cpus() ? 20000 : 50;
}

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
  const int spin_limit = spin_iterations();
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
    const auto us =
        std::min<int64_t>(1000, 20 + std::chrono::duration_cast<std::chrono::microseconds>(waited).count() / 100);
    timespec ts{0, static_cast<long>(us * 1000)};
    nanosleep(&ts, nullptr);
  }
}

}  // namespace internal
}  // namespace iccrt::comm
