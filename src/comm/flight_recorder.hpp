#pragma once
// Flight recorder: the last N collectives of a group (ICCRT_FLIGHT_RECORDER, default 64), kept so that a hang
// or a failure can be explained after the fact: which op, how big, which sequence number, how far it got.
// Dumped to stderr when an op times out, and on request (ProcessGroup::flight_record()).
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "iccrt/comm/types.hpp"

namespace iccrt::comm {

// What an op is, kept as plain fields and turned into text only when needed.
struct OpInfo {
  OpType op = OpType::Barrier;
  uint64_t seq = 0;
  uint64_t count = 0;
  int32_t dtype = -1;
  int32_t reduce_op = -1;
  int32_t root = -1;
  int32_t peer = -1;
  int32_t tag = -1;
  int32_t algo = -1;
};
// "all_reduce float32 x 1024 sum (ring)", "send int64 x 7 to rank 3 tag 0"
std::string describe(const OpInfo& o);

class FlightRecorder {
 public:
  enum class State { Queued, Started, Completed, Failed };
  struct Entry {
    OpInfo info;
    State state = State::Queued;
    std::chrono::system_clock::time_point queued, started, finished;
    std::string error;
  };

  explicit FlightRecorder(size_t capacity) : capacity_(capacity) {}
  // Returns the slot id to update later.
  uint64_t record(const OpInfo& info);
  void started(uint64_t id);
  void finished(uint64_t id, const std::string& error = {});
  std::string dump(const std::string& header) const;

 private:
  Entry* find(uint64_t id);
  mutable std::mutex mu_;
  size_t capacity_;
  std::vector<Entry> ring_;
  uint64_t next_id_ = 0;  // ids are positions in the infinite sequence; slot = id % capacity
};

}  // namespace iccrt::comm
