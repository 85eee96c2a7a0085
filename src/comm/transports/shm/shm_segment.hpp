#pragma once
// One POSIX shared-memory segment per (group, machine): the co-located ranks' board (liveness, progress),
// the point-to-point channels between every ordered pair, and the arenas of the direct algorithms.
//
// Note [Shared-memory lifetime]: the machine's leader creates the segment (O_EXCL, mode 0600), everyone maps it,
// and after a bootstrap barrier the leader unlinks the name, so nothing is left in /dev/shm even if ranks crash
// later; the memory itself lives until the last rank unmaps it.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace iccrt::comm::shm {

constexpr size_t kLine = 64;

// One rank's public state, read by its peers while they wait on it.
struct alignas(kLine) BoardEntry {
  std::atomic<int64_t> pid;
  std::atomic<uint64_t> seq_entered;  // sequence number of the last op this rank started
  std::atomic<uint64_t> seq_done;     // ... and finished
  std::atomic<uint32_t> left;         // 1 once the rank shut the group down or its process is exiting
  std::atomic<uint32_t> failed;       // 1 once an op failed on this rank (peers stop waiting on it)
  char pad[kLine - 8 - 8 - 8 - 4 - 4];
};
static_assert(sizeof(BoardEntry) == kLine);

struct alignas(kLine) Counter {
  std::atomic<uint64_t> v;
  char pad[kLine - sizeof(std::atomic<uint64_t>)];
};

// Per-slot header of a channel: which message the bytes belong to.
struct alignas(kLine) SlotHeader {
  uint32_t tag;
  uint32_t pad0;
  uint64_t msg_bytes;    // size of the whole message
  uint64_t offset;       // where this chunk starts in it
  uint64_t chunk_bytes;  // bytes in this slot
};

struct Layout {
  int nlocal = 0;
  size_t slot_bytes = 0;
  int nslots = 0;
  // Direct arenas: one per topology host on this machine; members are local indices.
  std::vector<std::vector<int>> arena_members;
  size_t arena_chunk = 0;  // bytes per rank slot per stage
  int arena_stages = 0;

  size_t board_offset() const;
  size_t channel_stride() const;  // bytes of one ordered-pair channel
  size_t channel_offset(int from, int to) const;
  size_t arena_offset(int arena) const;
  size_t arena_bytes(int arena) const;
  size_t total_bytes() const;
};

class Segment {
 public:
  // Leader: creates and initialises `name`. Others: open(), after the leader created it.
  static Segment create(const std::string& name, const Layout& layout);
  static Segment open(const std::string& name, const Layout& layout);
  Segment() = default;
  Segment(Segment&& o) noexcept;
  Segment& operator=(Segment&& o) noexcept;
  ~Segment();

  void unlink();  // leader, once every rank has mapped it
  uint8_t* base() const { return base_; }
  const Layout& layout() const { return layout_; }
  BoardEntry& board(int local) const;
  bool valid() const { return base_ != nullptr; }

 private:
  std::string name_;
  Layout layout_;
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace iccrt::comm::shm
