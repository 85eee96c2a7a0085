#include "src/comm/flight_recorder.hpp"

#include <ctime>
#include <iomanip>
#include <sstream>

namespace iccrt::comm {

namespace {

const char* name(FlightRecorder::State s) {
  switch (s) {
    case FlightRecorder::State::Queued:
      return "queued";
    case FlightRecorder::State::Started:
      return "started";
    case FlightRecorder::State::Completed:
      return "completed";
    case FlightRecorder::State::Failed:
      return "FAILED";
  }
  return "?";
}

std::string clock_text(std::chrono::system_clock::time_point t) {
  if (t.time_since_epoch().count() == 0) return "-";
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  std::ostringstream os;
  os << std::put_time(&tm, "%H:%M:%S") << '.' << std::setw(3) << std::setfill('0') << ms;
  return os.str();
}

}  // namespace

std::string describe(const OpInfo& o) {
  std::ostringstream os;
  os << to_string(o.op);
  if (o.op == OpType::Barrier) {
    if (o.algo >= 0) os << " (" << to_string(static_cast<Algorithm>(o.algo)) << ")";
    return os.str();
  }
  if (o.dtype >= 0) os << " " << dtype_name(static_cast<DType>(o.dtype)) << " x " << o.count;
  if (o.reduce_op >= 0) os << " " << to_string(static_cast<ReduceOp>(o.reduce_op));
  if (o.root >= 0) os << " root " << o.root;
  if (o.peer >= 0) os << (o.op == OpType::Send ? " to rank " : " from rank ") << o.peer << " tag " << o.tag;
  if (o.op == OpType::AllToAll) {
    os << " (pairwise)";
  } else if (o.algo >= 0) {
    os << " (" << to_string(static_cast<Algorithm>(o.algo)) << ")";
  }
  return os.str();
}

uint64_t FlightRecorder::record(const OpInfo& info) {
  std::lock_guard<std::mutex> lock(mu_);
  if (capacity_ == 0) return next_id_++;
  const uint64_t id = next_id_++;
  Entry e;
  e.info = info;
  e.queued = std::chrono::system_clock::now();
  if (ring_.size() < capacity_) {
    ring_.push_back(std::move(e));
  } else {
    ring_[id % capacity_] = std::move(e);
  }
  return id;
}

FlightRecorder::Entry* FlightRecorder::find(uint64_t id) {
  if (capacity_ == 0 || id + capacity_ < next_id_) return nullptr;  // already overwritten
  return &ring_[id % capacity_];
}

void FlightRecorder::started(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Entry* e = find(id)) {
    e->state = State::Started;
    e->started = std::chrono::system_clock::now();
  }
}

void FlightRecorder::finished(uint64_t id, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Entry* e = find(id)) {
    e->state = error.empty() ? State::Completed : State::Failed;
    e->finished = std::chrono::system_clock::now();
    e->error = error;
  }
}

std::string FlightRecorder::dump(const std::string& header) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream os;
  os << header << " (last " << ring_.size() << " ops, oldest first)\n";
  os << "  seq  state      queued        started       finished      op\n";
  const uint64_t n = ring_.size();
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t id = next_id_ - n + i;
    const Entry& e = ring_[id % capacity_];
    os << "  " << std::setw(4) << e.info.seq << " " << std::left << std::setw(10) << name(e.state) << " "
       << std::setw(13) << clock_text(e.queued) << " " << std::setw(13) << clock_text(e.started) << " " << std::setw(13)
       << clock_text(e.finished) << std::right << " " << describe(e.info);
    if (!e.error.empty()) os << "  error: " << e.error.substr(0, 200);
    os << "\n";
  }
  return os.str();
}

}  // namespace iccrt::comm
