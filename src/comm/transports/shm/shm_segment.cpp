#include "src/comm/transports/shm/shm_segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "iccrt/comm/types.hpp"

namespace iccrt::comm::shm {

namespace {

constexpr uint64_t kMagic = 0x69636372742d7368ull;  // "iccrt-sh"
constexpr size_t kHeaderBytes = 4096;

struct Header {
  uint64_t magic;
  uint64_t total_bytes;
  int32_t nlocal;
  int32_t nslots;
  uint64_t slot_bytes;
};

size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

std::string sys_error(const char* what, const std::string& name) {
  return detail::str(what, "('", name, "') failed: ", std::strerror(errno));
}

}  // namespace

size_t Layout::board_offset() const { return kHeaderBytes; }

size_t Layout::channel_stride() const {
  // head and tail counters on their own lines, then the slots (header + payload, line aligned).
  return 2 * kLine + static_cast<size_t>(nslots) * (sizeof(SlotHeader) + round_up(slot_bytes, kLine));
}

size_t Layout::channel_offset(int from, int to) const {
  const size_t start = round_up(board_offset() + static_cast<size_t>(nlocal) * sizeof(BoardEntry), 4096);
  return start + (static_cast<size_t>(from) * nlocal + to) * channel_stride();
}

size_t Layout::arena_bytes(int arena) const {
  const size_t m = arena_members[arena].size();
  // progress counters (one line per member), then in[m][stages][chunk], then out[stages][chunk].
  return round_up(m * kLine, 4096) + (m + 1) * static_cast<size_t>(arena_stages) * round_up(arena_chunk, 4096);
}

size_t Layout::arena_offset(int arena) const {
  size_t off = round_up(channel_offset(0, 0) + static_cast<size_t>(nlocal) * nlocal * channel_stride(), 4096);
  for (int a = 0; a < arena; ++a) off += round_up(arena_bytes(a), 4096);
  return off;
}

size_t Layout::total_bytes() const { return arena_offset(static_cast<int>(arena_members.size())); }

Segment Segment::create(const std::string& name, const Layout& layout) {
  Segment s;
  s.name_ = name;
  s.layout_ = layout;
  s.bytes_ = layout.total_bytes();
  const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) throw CommError(sys_error("shm_open", name));
  if (ftruncate(fd, static_cast<off_t>(s.bytes_)) != 0) {
    const std::string msg = sys_error("ftruncate", name) + detail::str(" (", s.bytes_, " bytes; is /dev/shm full?)");
    close(fd);
    shm_unlink(name.c_str());
    throw CommError(msg);
  }
  void* p = mmap(nullptr, s.bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    shm_unlink(name.c_str());
    throw CommError(sys_error("mmap", name));
  }
  s.base_ = static_cast<uint8_t*>(p);
  // The file is zero-filled, which is a valid initial state for every atomic in it; the header goes last.
  auto* h = reinterpret_cast<Header*>(s.base_);
  h->total_bytes = s.bytes_;
  h->nlocal = layout.nlocal;
  h->nslots = layout.nslots;
  h->slot_bytes = layout.slot_bytes;
  reinterpret_cast<std::atomic<uint64_t>*>(&h->magic)->store(kMagic, std::memory_order_release);
  return s;
}

Segment Segment::open(const std::string& name, const Layout& layout) {
  Segment s;
  s.name_ = name;
  s.layout_ = layout;
  s.bytes_ = layout.total_bytes();
  const int fd = shm_open(name.c_str(), O_RDWR, 0600);
  if (fd < 0) throw CommError(sys_error("shm_open", name));
  struct stat st {};
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != s.bytes_) {
    close(fd);
    throw CommError(detail::str("shared-memory segment '", name, "' has ", st.st_size, " bytes, expected ", s.bytes_,
                                ": ranks disagree on the group layout (ICCRT_SHM_* must match)"));
  }
  void* p = mmap(nullptr, s.bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) throw CommError(sys_error("mmap", name));
  s.base_ = static_cast<uint8_t*>(p);
  auto* h = reinterpret_cast<Header*>(s.base_);
  if (reinterpret_cast<std::atomic<uint64_t>*>(&h->magic)->load(std::memory_order_acquire) != kMagic ||
      h->nlocal != layout.nlocal || h->nslots != layout.nslots || h->slot_bytes != layout.slot_bytes) {
    throw CommError(detail::str("shared-memory segment '", name,
                                "' does not match this rank's layout (ranks disagree on ICCRT_SHM_*)"));
  }
  return s;
}

Segment::Segment(Segment&& o) noexcept { *this = std::move(o); }

Segment& Segment::operator=(Segment&& o) noexcept {
  if (this != &o) {
    if (base_) munmap(base_, bytes_);
    name_ = std::move(o.name_);
    layout_ = std::move(o.layout_);
    base_ = o.base_;
    bytes_ = o.bytes_;
    o.base_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

Segment::~Segment() {
  if (base_) munmap(base_, bytes_);
}

void Segment::unlink() {
  if (shm_unlink(name_.c_str()) != 0 && errno != ENOENT) throw CommError(sys_error("shm_unlink", name_));
}

BoardEntry& Segment::board(int local) const {
  return *reinterpret_cast<BoardEntry*>(base_ + layout_.board_offset() +
                                        static_cast<size_t>(local) * sizeof(BoardEntry));
}

}  // namespace iccrt::comm::shm
