// Names, parsing and the environment tunables of the collective layer. Every ICCRT_* variable of comm/ is
// declared here, read once, and documented in docs/comm.md.
#include "iccrt/comm/types.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "src/comm/tunables.hpp"

namespace iccrt::comm {

const char* to_string(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return "sum";
    case ReduceOp::Prod:
      return "prod";
    case ReduceOp::Min:
      return "min";
    case ReduceOp::Max:
      return "max";
    case ReduceOp::Avg:
      return "avg";
  }
  return "?";
}

const char* to_string(Algorithm a) {
  switch (a) {
    case Algorithm::Auto:
      return "auto";
    case Algorithm::Ring:
      return "ring";
    case Algorithm::Tree:
      return "tree";
    case Algorithm::Rhd:
      return "rhd";
    case Algorithm::Rd:
      return "rd";
    case Algorithm::Direct:
      return "direct";
    case Algorithm::Hierarchical:
      return "hierarchical";
  }
  return "?";
}

const char* to_string(OpType op) {
  switch (op) {
    case OpType::AllReduce:
      return "all_reduce";
    case OpType::ReduceScatter:
      return "reduce_scatter";
    case OpType::AllGather:
      return "all_gather";
    case OpType::Broadcast:
      return "broadcast";
    case OpType::Reduce:
      return "reduce";
    case OpType::AllToAll:
      return "all_to_all";
    case OpType::Send:
      return "send";
    case OpType::Recv:
      return "recv";
    case OpType::Barrier:
      return "barrier";
  }
  return "?";
}

static std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

Algorithm parse_algorithm(const std::string& name) {
  const std::string n = lower(name);
  for (Algorithm a : {Algorithm::Auto, Algorithm::Ring, Algorithm::Tree, Algorithm::Rhd, Algorithm::Rd,
                      Algorithm::Direct, Algorithm::Hierarchical}) {
    if (n == to_string(a)) return a;
  }
  ICCRT_CHECK_VALUE(false, "unknown collective algorithm '", name,
                    "' (expected auto, ring, tree, rhd, rd, direct or hierarchical)");
  return Algorithm::Auto;
}

ReduceOp parse_reduce_op(const std::string& name) {
  const std::string n = lower(name);
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Min, ReduceOp::Max, ReduceOp::Avg}) {
    if (n == to_string(op)) return op;
  }
  ICCRT_CHECK_VALUE(false, "unknown reduce op '", name, "' (expected sum, prod, min, max or avg)");
  return ReduceOp::Sum;
}

int64_t env_int(const char* name, int64_t fallback, int64_t min_value) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  ICCRT_CHECK_VALUE(end && *end == '\0' && x >= min_value, "environment variable ", name, "='", v,
                    "' must be an integer >= ", min_value);
  return x;
}

double env_double(const char* name, double fallback, double min_value) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const double x = std::strtod(v, &end);
  ICCRT_CHECK_VALUE(end && *end == '\0' && x >= min_value, "environment variable ", name, "='", v,
                    "' must be a number >= ", min_value);
  return x;
}

std::string env_str(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : std::string(fallback);
}

std::chrono::milliseconds default_timeout() {
  return std::chrono::milliseconds(static_cast<int64_t>(tunables().timeout_s * 1000.0));
}

bool debug_checks_enabled() { return tunables().debug; }

const Tunables& tunables() {
  // Read once, on first use; a garbled value raises ValueError naming the variable.
  static const Tunables t = [] {
    Tunables x;
    x.timeout_s = env_double("ICCRT_TIMEOUT", 300.0, 0.001);
    x.debug = env_int("ICCRT_DEBUG", 0, 0) != 0;
    x.algo = env_str("ICCRT_ALGO", "auto");
    if (x.algo != "auto") parse_algorithm(x.algo);  // validate early
    x.flight_recorder = static_cast<int>(env_int("ICCRT_FLIGHT_RECORDER", 64, 0));
    x.shm_slot_bytes = static_cast<size_t>(env_int("ICCRT_SHM_SLOT_BYTES", 128 << 10, 4096));
    x.shm_slots = static_cast<int>(env_int("ICCRT_SHM_SLOTS", 4, 2));
    x.direct_chunk_bytes = static_cast<size_t>(env_int("ICCRT_DIRECT_CHUNK_BYTES", 512 << 10, 4096));
    x.chunk_bytes = static_cast<size_t>(env_int("ICCRT_CHUNK_BYTES", 256 << 10, 1024));
    x.spin_count = static_cast<int>(env_int("ICCRT_SPIN", -1, -1));
    return x;
  }();
  return t;
}

}  // namespace iccrt::comm
