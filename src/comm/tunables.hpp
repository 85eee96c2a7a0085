#pragma once
// The collective layer's environment tunables, read once (types.cpp). Documented in docs/comm.md.
#include <cstddef>
#include <cstdint>
#include <string>

namespace iccrt::comm {

struct Tunables {
  double timeout_s;           // ICCRT_TIMEOUT (seconds, default 300): every blocking wait
  bool debug;                 // ICCRT_DEBUG (0/1): cross-rank checks of op, count, dtype, root before each op
  std::string algo;           // ICCRT_ALGO (auto): algorithm used when a call says Auto
  int flight_recorder;        // ICCRT_FLIGHT_RECORDER (64): collectives remembered per group
  size_t shm_slot_bytes;      // ICCRT_SHM_SLOT_BYTES (128 KiB): size of one shared-memory channel slot
  int shm_slots;              // ICCRT_SHM_SLOTS (4): slots per channel (pipelining depth)
  size_t direct_chunk_bytes;  // ICCRT_DIRECT_CHUNK_BYTES (512 KiB): chunk of the shared-memory direct algorithms
  size_t chunk_bytes;         // ICCRT_CHUNK_BYTES (256 KiB): pipelining chunk of ring / tree / broadcast
  int spin_count;             // ICCRT_SPIN (-1 = automatic): busy-poll iterations before a waiting rank yields
};

// Note [Spinning or yielding]: a waiting rank polls before it yields its core. When every co-located rank has a
// core of its own, long polling (tens of microseconds) gives the lowest latency; when ranks outnumber cores,
// polling only steals the core from the peer being waited for, so it yields almost at once. Groups report
// their co-located rank count here when they are created; ICCRT_SPIN fixes the count instead.
void note_colocated_ranks(int n);
int spin_iterations();
const Tunables& tunables();

// Reading one variable; a garbled value raises ValueError naming it.
int64_t env_int(const char* name, int64_t fallback, int64_t min_value);
double env_double(const char* name, double fallback, double min_value);
std::string env_str(const char* name, const char* fallback);

}  // namespace iccrt::comm
