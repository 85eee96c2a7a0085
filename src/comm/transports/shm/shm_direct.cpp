#include "src/comm/transports/shm/shm_direct.hpp"

#include <algorithm>
#include <cstring>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "kernels/cpu/comm_reduce.hpp"
#include "src/comm/tunables.hpp"

namespace iccrt::comm::shm {

namespace {
size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }
// Copy into the caller's output, which nobody reads soon: large copies bypass the cache with streaming stores,
// saving the read-for-ownership of every output line (a third of the memory traffic of a copy).
void copy_out(uint8_t* dst, const uint8_t* src, size_t bytes) {
#if defined(__AVX__)
  if (bytes >= (64 << 10)) {
    // Head up to 32-byte alignment, then 32-byte streaming stores, then the tail.
    const size_t head = (32 - (reinterpret_cast<uintptr_t>(dst) & 31)) & 31;
    std::memcpy(dst, src, head);
    size_t i = head;
    for (; i + 128 <= bytes; i += 128) {
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
      const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 32));
      const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 64));
      const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 96));
      _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i), a);
      _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i + 32), b);
      _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i + 64), c);
      _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i + 96), d);
    }
    std::memcpy(dst + i, src + i, bytes - i);
    _mm_sfence();
    return;
  }
#endif
  std::memcpy(dst, src, bytes);
}

size_t one_step_bytes() {
  static const size_t v = static_cast<size_t>(env_int("ICCRT_DIRECT_ONE_STEP_BYTES", DirectArena::kOneStepBytes, 0));
  return v;
}
}  // namespace

DirectArena::DirectArena(const Segment& seg, int arena, int index, std::vector<int> group_ranks)
    : group_ranks_(std::move(group_ranks)) {
  const Layout& l = seg.layout();
  base_ = seg.base() + l.arena_offset(arena);
  m_ = static_cast<int>(l.arena_members[arena].size());
  me_ = index;
  stages_ = l.arena_stages;
  chunk_ = l.arena_chunk;
  slot_stride_ = round_up(chunk_, 4096);
  ICCRT_ASSERT(static_cast<int>(group_ranks_.size()) == m_ && me_ >= 0 && me_ < m_, "bad direct arena member");
  ICCRT_ASSERT(8 + 8 * stages_ <= static_cast<int>(kLine), "too many direct stages for the counter line");
  // Counters persist in the segment: resume from them (all members agree, they only ever move together).
  round_ = counter(me_).load(std::memory_order_acquire) / 3;
  srcs_.resize(m_);
}

std::atomic<uint64_t>& DirectArena::counter(int m) const {
  return *reinterpret_cast<std::atomic<uint64_t>*>(base_ + static_cast<size_t>(m) * kLine);
}

namespace {
// A member's signature for a round: bytes << 24 | (root + 1) << 8 | kind. Stored per stage, so it stays valid
// until every member has finished the round (the stage cannot be reused before that).
uint64_t make_signature(uint32_t kind, uint64_t bytes) { return (bytes << 24) | kind; }
const char* kind_name(uint64_t sig) {
  static const char* names[] = {"all_reduce", "reduce_scatter", "all_gather", "broadcast", "reduce"};
  return (sig & 0xff) < 5 ? names[sig & 0xff] : "?";
}
}  // namespace

void DirectArena::set_signature(uint32_t kind, uint64_t bytes) {
  auto* sig = reinterpret_cast<uint64_t*>(base_ + static_cast<size_t>(me_) * kLine + 8);
  sig[round_ % stages_] = make_signature(kind, bytes);
}

void DirectArena::check_signature(int member, uint32_t kind, uint64_t bytes) const {
  const auto* sig = reinterpret_cast<const uint64_t*>(base_ + static_cast<size_t>(member) * kLine + 8);
  const uint64_t theirs = sig[round_ % stages_];
  if (theirs != make_signature(kind, bytes)) {
    throw CommError(detail::str(
        "ranks disagree: rank ", group_ranks_[member], " runs ", kind_name(theirs), " of ", theirs >> 24, " B",
        ((theirs >> 8) & 0xffff) ? detail::str(" (root ", ((theirs >> 8) & 0xffff) - 1, ")") : "", " while rank ",
        group_ranks_[me_], " runs ", kind_name(kind), " of ", bytes, " B",
        (kind >> 8) ? detail::str(" (root ", (kind >> 8) - 1, ")") : "", " (ICCRT_DEBUG=1 reports every rank's call)"));
  }
}

uint8_t* DirectArena::in_slot(int m, int stage) const {
  const size_t data = round_up(static_cast<size_t>(m_) * kLine, 4096);
  return base_ + data + (static_cast<size_t>(m) * stages_ + stage) * slot_stride_;
}

uint8_t* DirectArena::out_slot(int stage) const { return in_slot(m_, stage); }

void DirectArena::publish(uint64_t round, int phase) {
  counter(me_).store(3 * round + phase, std::memory_order_release);
}

void DirectArena::wait_all(uint64_t round, int phase, const WaitContext& w) {
  const uint64_t target = 3 * round + phase;
  int next = 0;  // members before `next` are known to be there
  wait_until(
      [&] {
        while (next < m_ && counter(next).load(std::memory_order_acquire) >= target) ++next;
        return next == m_;
      },
      w,
      [&] {
        std::string s =
            "shared-memory step (round " + std::to_string(round) + ", phase " + std::to_string(phase) + ") of ranks";
        for (int j = 0; j < m_; ++j) {
          if (counter(j).load(std::memory_order_acquire) < target) s += " " + std::to_string(group_ranks_[j]);
        }
        return s;
      });
}

void DirectArena::wait_one(int member, uint64_t round, int phase, const WaitContext& w) {
  const uint64_t target = 3 * round + phase;
  wait_until([&] { return counter(member).load(std::memory_order_acquire) >= target; }, w,
             [&] { return "shared-memory step of rank " + std::to_string(group_ranks_[member]); });
}

void DirectArena::post_and_wait_all(uint64_t round, uint32_t kind, uint64_t bytes, const WaitContext& w) {
  set_signature(kind, bytes);
  publish(round, 1);
  wait_all(round, 1, w);
  for (int j = 0; j < m_; ++j) check_signature(j, kind, bytes);
}

uint64_t DirectArena::begin_round(const WaitContext& w) {
  const uint64_t k = ++round_;
  if (k > static_cast<uint64_t>(stages_)) wait_all(k - stages_, 3, w);
  return k;
}

void DirectArena::all_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, const WaitContext& w) {
  const size_t isz = static_cast<size_t>(itemsize(dtype));
  const size_t cap = chunk_ / isz;
  const bool one_step = count * isz <= one_step_bytes();
  const auto* src = static_cast<const uint8_t*>(in);
  auto* dst = static_cast<uint8_t*>(out);
  std::vector<const void*>& srcs = srcs_;
  size_t off = 0;
  do {
    const size_t n = std::min(cap, count - off);
    const uint64_t k = begin_round(w);
    const int s = static_cast<int>(k % stages_);
    // My slice of this chunk, [lo, hi) (the whole chunk in one step).
    const size_t lo = one_step ? n : n * me_ / m_, hi = one_step ? n : n * (me_ + 1) / m_;
    // Peers need every slice of my input but mine (one step: all of it).
    std::memcpy(in_slot(me_, s), src + off * isz, lo * isz);
    std::memcpy(in_slot(me_, s) + hi * isz, src + (off + hi) * isz, (n - hi) * isz);
    post_and_wait_all(k, 0, count * isz, w);
    if (one_step) {
      for (int j = 0; j < m_; ++j) srcs[j] = in_slot(j, s);
      kernels::cpu::comm_reduce_n(dst + off * isz, srcs.data(), m_, n, dtype, op);
      publish(k, 3);
    } else {
      // My slice is reduced from my own input (peers never read it from the arena) and written straight into
      // my output, then published for the peers; their slices come back from the arena.
      for (int j = 0; j < m_; ++j) srcs[j] = j == me_ ? src + (off + lo) * isz : in_slot(j, s) + lo * isz;
      uint8_t* mine = dst + (off + lo) * isz;
      kernels::cpu::comm_reduce_n(mine, srcs.data(), m_, hi - lo, dtype, op);
      std::memcpy(out_slot(s) + lo * isz, mine, (hi - lo) * isz);
      publish(k, 2);
      wait_all(k, 2, w);
      copy_out(dst + off * isz, out_slot(s), lo * isz);
      copy_out(dst + (off + hi) * isz, out_slot(s) + hi * isz, (n - hi) * isz);
      publish(k, 3);
    }
    off += n;
  } while (off < count);
}

void DirectArena::reduce_scatter(const void* in, void* out, size_t count, DType dtype, ReduceOp op,
                                 const WaitContext& w) {
  const size_t isz = static_cast<size_t>(itemsize(dtype));
  const size_t piece_cap = std::max<size_t>(1, chunk_ / isz / m_);  // elements of each block per round
  const auto* src = static_cast<const uint8_t*>(in);
  auto* dst = static_cast<uint8_t*>(out);
  std::vector<const void*>& srcs = srcs_;
  size_t off = 0;
  do {
    const size_t n = std::min(piece_cap, count - off);
    const uint64_t k = begin_round(w);
    const int s = static_cast<int>(k % stages_);
    uint8_t* mine = in_slot(me_, s);
    for (int b = 0; b < m_; ++b) std::memcpy(mine + b * piece_cap * isz, src + (b * count + off) * isz, n * isz);
    post_and_wait_all(k, 1, count * isz, w);
    for (int j = 0; j < m_; ++j) srcs[j] = in_slot(j, s) + me_ * piece_cap * isz;
    kernels::cpu::comm_reduce_n(dst + off * isz, srcs.data(), m_, n, dtype, op);
    publish(k, 3);
    off += n;
  } while (off < count);
}

void DirectArena::all_gather(const void* in, void* out, size_t bytes, const WaitContext& w) {
  const auto* src = static_cast<const uint8_t*>(in);
  auto* dst = static_cast<uint8_t*>(out);
  size_t off = 0;
  do {
    const size_t n = std::min(chunk_, bytes - off);
    const uint64_t k = begin_round(w);
    const int s = static_cast<int>(k % stages_);
    std::memcpy(in_slot(me_, s), src + off, n);
    post_and_wait_all(k, 2, bytes, w);
    for (int j = 0; j < m_; ++j) {
      // In-place all_gather: our own block is already where it belongs.
      if (dst + j * bytes + off != src + off) std::memcpy(dst + j * bytes + off, in_slot(j, s), n);
    }
    publish(k, 3);
    off += n;
  } while (off < bytes);
}

void DirectArena::broadcast(void* buf, size_t bytes, int root, const WaitContext& w) {
  auto* p = static_cast<uint8_t*>(buf);
  size_t off = 0;
  do {
    const size_t n = std::min(chunk_, bytes - off);
    const uint64_t k = begin_round(w);
    const int s = static_cast<int>(k % stages_);
    if (me_ == root) {
      std::memcpy(in_slot(root, s), p + off, n);
      set_signature(3u | (static_cast<uint32_t>(root + 1) << 8), bytes);
    } else {
      wait_one(root, k, 1, w);
      check_signature(root, 3u | (static_cast<uint32_t>(root + 1) << 8), bytes);
      std::memcpy(p + off, in_slot(root, s), n);
    }
    // The root's phase 3 implies phase 1: peers waiting for "posted" see it too.
    publish(k, 3);
    off += n;
  } while (off < bytes);
}

void DirectArena::reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int root,
                         const WaitContext& w) {
  const size_t isz = static_cast<size_t>(itemsize(dtype));
  const size_t cap = chunk_ / isz;
  const auto* src = static_cast<const uint8_t*>(in);
  auto* dst = static_cast<uint8_t*>(out);
  std::vector<const void*>& srcs = srcs_;
  size_t off = 0;
  do {
    const size_t n = std::min(cap, count - off);
    const uint64_t k = begin_round(w);
    const int s = static_cast<int>(k % stages_);
    std::memcpy(in_slot(me_, s), src + off * isz, n * isz);
    post_and_wait_all(k, 4, count * isz, w);
    const size_t lo = n * me_ / m_, hi = n * (me_ + 1) / m_;
    for (int j = 0; j < m_; ++j) srcs[j] = in_slot(j, s) + lo * isz;
    kernels::cpu::comm_reduce_n(out_slot(s) + lo * isz, srcs.data(), m_, hi - lo, dtype, op);
    if (me_ == root) {
      publish(k, 2);
      wait_all(k, 2, w);
      std::memcpy(dst + off * isz, out_slot(s), n * isz);
    }
    publish(k, 3);
    off += n;
  } while (off < count);
}

void DirectArena::barrier(const WaitContext& w) {
  const uint64_t k = ++round_;
  publish(k, 3);
  wait_all(k, 3, w);
}

}  // namespace iccrt::comm::shm
