#pragma once
// Small vocabulary shared by every part of the collective layer: reduction ops, algorithm names, errors.
#include <chrono>
#include <cstdint>
#include <string>

#include "iccrt/core/dtype.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/core/export.hpp"

namespace iccrt::comm {

// Avg is Sum followed by a division by the group size (floating dtypes only).
// float16 / bfloat16 are reduced in float32 and rounded once per step.
enum class ReduceOp : uint8_t { Sum, Prod, Min, Max, Avg };

// The algorithms iccrt implements itself. Auto lets the tuner choose (see tuner.cpp); ICCRT_ALGO overrides
// Auto for every call, a per-call CollectiveOptions::algorithm overrides both.
enum class Algorithm : uint8_t {
  Auto,
  Ring,          // chunked, pipelined reduce-scatter + all-gather
  Tree,          // pipelined double binary tree (all-reduce); binomial tree for broadcast / reduce
  Rhd,           // recursive halving-doubling (Rabenseifner), any rank count
  Rd,            // recursive doubling, for tiny messages
  Direct,        // shared-memory direct: every rank reduces its slice reading all peers (one host only)
  Hierarchical,  // intra-host reduce-scatter -> inter-host all-reduce -> intra-host all-gather
};

enum class OpType : uint8_t { AllReduce, ReduceScatter, AllGather, Broadcast, Reduce, AllToAll, Send, Recv, Barrier };

ICCRT_API const char* to_string(ReduceOp op);
ICCRT_API const char* to_string(Algorithm a);
ICCRT_API const char* to_string(OpType op);
// Parses "ring", "tree", "rhd", "rd", "direct", "hierarchical", "auto" (case-insensitive); ValueError otherwise.
ICCRT_API Algorithm parse_algorithm(const std::string& name);
ICCRT_API ReduceOp parse_reduce_op(const std::string& name);  // sum, prod, min, max, avg

// Per-call choices.
struct CollectiveOptions {
  Algorithm algorithm = Algorithm::Auto;
  // The caller calls wait() on the returned Work right away. When the group is idle the op then runs on the
  // calling thread, saving the hand-off to the group's worker thread (a few microseconds per op; it matters
  // for small messages). Leave it false for ops that should progress while the caller does other work.
  bool blocking = false;
};

// A collective failed: a peer died or left, ranks disagreed, a transport reported an error.
class ICCRT_API CommError : public Error {
 public:
  using Error::Error;
};
// A blocking wait ran past the group's timeout. The message names the op, the group, the sequence number and
// the ranks that did not arrive.
class ICCRT_API CommTimeout : public CommError {
 public:
  using CommError::CommError;
};

// Tunables (environment variables, each read once; documented in docs/comm.md).
//   ICCRT_TIMEOUT   seconds, default 300      ICCRT_DEBUG   0/1, default 0
//   ICCRT_ALGO      algorithm name or auto    ICCRT_FLIGHT_RECORDER  entries kept per group, default 64
ICCRT_API std::chrono::milliseconds default_timeout();
ICCRT_API bool debug_checks_enabled();

}  // namespace iccrt::comm
