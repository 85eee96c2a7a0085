// Algorithm choice (the tuner) and the bodies of the collectives, run by the group's worker thread.
//
// Note [Tuner]: the choice depends only on the op, the message size, the rank count and the topology, which
// every rank of a group knows identically, so all ranks pick the same algorithm without talking. Thresholds
// come from `iccrt_bench` runs recorded in docs/benchmarks.md:
//  - all ranks on one machine and one host: shared-memory direct for every size (one copy in, one pass of
//    reduction, one copy out; nothing beats it within a machine);
//  - several hosts with the same number of ranks each: hierarchical (shared memory inside a host, the
//    inter-host all-reduce over 1/L of the data);
//  - otherwise point-to-point: recursive doubling up to 16 KiB (log2 n latency steps), Rabenseifner up to
//    1 MiB, ring above (bandwidth-optimal, pipelined).
// ICCRT_ALGO replaces Auto for all_reduce (and for the other ops when it names an algorithm they have).
#include <cstring>

#include "kernels/cpu/comm_reduce.hpp"
#include "src/comm/algorithms/algorithms.hpp"
#include "src/comm/group_impl.hpp"
#include "src/comm/tunables.hpp"

namespace iccrt::comm {

namespace {

constexpr size_t kRdMaxBytes = 16 << 10;
constexpr size_t kRhdMaxBytes = 1 << 20;

Algorithm env_algorithm() {
  static const Algorithm a = parse_algorithm(tunables().algo);
  return a;
}

Algorithm p2p_all_reduce_for(size_t bytes) {
  if (bytes <= kRdMaxBytes) return Algorithm::Rd;
  if (bytes <= kRhdMaxBytes) return Algorithm::Rhd;
  return Algorithm::Ring;
}

algo::Context make_ctx(Transport& t, const WaitContext& w, uint32_t tag) {
  algo::Context c{t, w, tag};
  c.chunk_bytes = tunables().chunk_bytes;
  return c;
}

void run_p2p_all_reduce(Transport& t, Algorithm a, void* buf, size_t count, DType dtype, ReduceOp op,
                        const WaitContext& w, uint32_t tag) {
  algo::Context c = make_ctx(t, w, tag);
  switch (a) {
    case Algorithm::Ring:
      algo::allreduce_ring(c, buf, count, dtype, op);
      break;
    case Algorithm::Tree:
      algo::allreduce_tree(c, buf, count, dtype, op);
      break;
    case Algorithm::Rhd:
      algo::allreduce_rhd(c, buf, count, dtype, op);
      break;
    case Algorithm::Rd:
      algo::allreduce_rd(c, buf, count, dtype, op);
      break;
    default:
      ICCRT_ASSERT(false, "not a point-to-point all-reduce: ", to_string(a));
  }
}

}  // namespace

Algorithm ProcessGroup::Impl::choose_all_reduce(size_t bytes, Algorithm requested) const {
  Algorithm a = requested == Algorithm::Auto ? env_algorithm() : requested;
  const bool hier_ok = hosts_uniform && cross_p2p != nullptr;
  if (a == Algorithm::Auto) {
    if (size == 1) return Algorithm::Direct;
    if (direct) return Algorithm::Direct;
    if (num_hosts > 1 && hier_ok && host_ranks.size() > 1) return Algorithm::Hierarchical;
    return p2p_all_reduce_for(bytes);
  }
  if (size == 1) return a;  // every algorithm is a copy on one rank
  ICCRT_CHECK_VALUE(a != Algorithm::Direct || direct, "all_reduce: algorithm 'direct' needs every rank of group '",
                    name, "' on one machine and one host; this group spans ", num_hosts, " host(s)");
  ICCRT_CHECK_VALUE(a != Algorithm::Hierarchical || hier_ok, "all_reduce: algorithm 'hierarchical' needs the same ",
                    "number of ranks on every host of group '", name, "'");
  return a;
}

Algorithm ProcessGroup::Impl::choose_other(OpType op, Algorithm requested) const {
  // Supported: reduce_scatter / all_gather: ring, direct; broadcast / reduce: tree, direct; barrier: direct or
  // dissemination (reported as rd); all_to_all: pairwise only (auto).
  Algorithm p2p = Algorithm::Auto;
  switch (op) {
    case OpType::ReduceScatter:
    case OpType::AllGather:
      p2p = Algorithm::Ring;
      break;
    case OpType::Broadcast:
    case OpType::Reduce:
      p2p = Algorithm::Tree;
      break;
    case OpType::Barrier:
      p2p = Algorithm::Rd;
      break;
    case OpType::AllToAll:
      p2p = Algorithm::Auto;
      break;
    default:
      ICCRT_ASSERT(false, "choose_other: ", to_string(op));
  }
  Algorithm a = requested;
  if (a == Algorithm::Auto) {
    const Algorithm e = env_algorithm();
    // ICCRT_ALGO applies where the op has that algorithm.
    if (e == p2p || (e == Algorithm::Direct && direct)) a = e;
  }
  if (a == Algorithm::Auto) return (direct && op != OpType::AllToAll) ? Algorithm::Direct : p2p;
  if (size == 1) return a;
  if (a == Algorithm::Direct && op != OpType::AllToAll) {
    ICCRT_CHECK_VALUE(direct != nullptr, to_string(op), ": algorithm 'direct' needs every rank of group '", name,
                      "' on one machine and one host");
    return a;
  }
  ICCRT_CHECK_VALUE(a == p2p, to_string(op), ": algorithm '", to_string(a), "' is not available; use auto",
                    p2p != Algorithm::Auto ? detail::str(", ", to_string(p2p)) : std::string(),
                    op != OpType::AllToAll ? " or direct" : "");
  return a;
}

void ProcessGroup::Impl::run_all_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op,
                                        Algorithm algo, const WaitContext& w, uint32_t tag) {
  const size_t isz = static_cast<size_t>(itemsize(dtype));
  if (size == 1) {
    if (in != out && count) std::memcpy(out, in, count * isz);
    return;
  }
  if (algo == Algorithm::Direct) {
    direct->all_reduce(in, out, count, dtype, op, w);
  } else if (algo == Algorithm::Hierarchical) {
    // Note [Hierarchical all-reduce]: reduce-scatter inside the host (shared memory), all-reduce each host's
    // block across hosts (one rank per host per block, so the inter-host links carry 1/L of the data), then
    // all-gather inside the host. Blocks are ceil(count / L); a padded copy is used when L does not divide count.
    const size_t L = host_ranks.size();
    const int li = host_p2p->rank();
    const size_t block = (count + L - 1) / L;
    std::vector<uint8_t> scratch;
    uint8_t* work = static_cast<uint8_t*>(out);
    if (block * L != count) {
      scratch.assign(block * L * isz, 0);
      work = scratch.data();
    }
    if (count && work != in) std::memcpy(work, in, count * isz);
    uint8_t* mine = work + li * block * isz;
    if (L > 1) {
      if (host_arena) {
        host_arena->reduce_scatter(work, mine, block, dtype, op, w);
      } else {
        algo::Context c = make_ctx(*host_p2p, w, tag);
        algo::reduce_scatter_ring(c, work, mine, block, dtype, op);
      }
    }
    if (cross_p2p->size() > 1) {
      run_p2p_all_reduce(*cross_p2p, p2p_all_reduce_for(block * isz), mine, block, dtype, op, w, tag);
    }
    if (L > 1) {
      if (host_arena) {
        host_arena->all_gather(mine, work, block * isz, w);
      } else {
        algo::Context c = make_ctx(*host_p2p, w, tag);
        algo::allgather_ring(c, mine, work, block, dtype);
      }
    }
    if (work != out && count) std::memcpy(out, work, count * isz);
  } else {
    if (in != out && count) std::memcpy(out, in, count * isz);
    run_p2p_all_reduce(*router, algo, out, count, dtype, op, w, tag);
  }
  if (op == ReduceOp::Avg) kernels::cpu::comm_scale_avg(out, count, dtype, size);
}

void ProcessGroup::Impl::run_reduce_scatter(const void* in, void* out, size_t count, DType dtype, ReduceOp op,
                                            Algorithm algo, const WaitContext& w, uint32_t tag) {
  if (size == 1) {
    if (in != out && count) std::memcpy(out, in, count * static_cast<size_t>(itemsize(dtype)));
  } else if (algo == Algorithm::Direct) {
    direct->reduce_scatter(in, out, count, dtype, op, w);
  } else {
    algo::Context c = make_ctx(*router, w, tag);
    algo::reduce_scatter_ring(c, in, out, count, dtype, op);
  }
  if (op == ReduceOp::Avg) kernels::cpu::comm_scale_avg(out, count, dtype, size);
}

void ProcessGroup::Impl::run_all_gather(const void* in, void* out, size_t count, DType dtype, Algorithm algo,
                                        const WaitContext& w, uint32_t tag) {
  const size_t bytes = count * static_cast<size_t>(itemsize(dtype));
  if (size == 1) {
    if (in != out && bytes) std::memcpy(out, in, bytes);
  } else if (algo == Algorithm::Direct) {
    direct->all_gather(in, out, bytes, w);
  } else {
    algo::Context c = make_ctx(*router, w, tag);
    algo::allgather_ring(c, in, out, count, dtype);
  }
}

void ProcessGroup::Impl::run_broadcast(void* buf, size_t bytes, int root, Algorithm algo, const WaitContext& w,
                                       uint32_t tag) {
  if (size == 1) return;
  if (algo == Algorithm::Direct) {
    direct->broadcast(buf, bytes, root, w);
  } else {
    algo::Context c = make_ctx(*router, w, tag);
    algo::broadcast_tree(c, buf, bytes, root);
  }
}

void ProcessGroup::Impl::run_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int root,
                                    Algorithm algo, const WaitContext& w, uint32_t tag) {
  if (size == 1) {
    if (in != out && count) std::memcpy(out, in, count * static_cast<size_t>(itemsize(dtype)));
  } else if (algo == Algorithm::Direct) {
    direct->reduce(in, out, count, dtype, op, root, w);
  } else {
    algo::Context c = make_ctx(*router, w, tag);
    algo::reduce_tree(c, in, out, count, dtype, op, root);
  }
  if (op == ReduceOp::Avg && rank == root) kernels::cpu::comm_scale_avg(out, count, dtype, size);
}

void ProcessGroup::Impl::run_all_to_all(const void* in, void* out, size_t bytes_per_rank, const WaitContext& w,
                                        uint32_t tag) {
  if (size == 1) {
    if (in != out && bytes_per_rank) std::memcpy(out, in, bytes_per_rank);
    return;
  }
  algo::Context c = make_ctx(*router, w, tag);
  algo::alltoall_pairwise(c, in, out, bytes_per_rank);
}

void ProcessGroup::Impl::run_barrier(const WaitContext& w, uint32_t tag) {
  if (size == 1) return;
  if (direct) {
    direct->barrier(w);
  } else {
    algo::Context c = make_ctx(*router, w, tag);
    algo::barrier_dissemination(c);
  }
}

// ICCRT_DEBUG=1: before each collective every rank shares what it is about to run (a fixed-size record, so the
// exchange itself cannot mismatch) and all ranks fail together, naming who differs, if the records disagree.
void ProcessGroup::Impl::debug_check(const Task& t, const WaitContext& w) {
  struct Record {
    uint64_t seq;
    uint64_t count;
    int32_t op, dtype, root, algo, reduce_op, pad;
  };
  Record mine{t.info.seq,
              t.info.count,
              static_cast<int32_t>(t.info.op),
              t.info.dtype,
              t.info.root,
              t.info.algo,
              t.info.reduce_op,
              0};
  std::vector<Record> all(static_cast<size_t>(size));
  if (size > 1) {
    algo::Context c = make_ctx(*router, w, collective_tag(t.info.seq) ^ 0x20000000u);
    algo::allgather_ring(c, &mine, all.data(), sizeof(Record), DType::UInt8);
  } else {
    all[0] = mine;
  }
  auto text = [](const Record& r) {
    return detail::str(to_string(static_cast<OpType>(r.op)), " ",
                       r.dtype >= 0 ? dtype_name(static_cast<DType>(r.dtype)) : "-", " x ", r.count,
                       r.reduce_op >= 0 ? detail::str(" ", to_string(static_cast<ReduceOp>(r.reduce_op))) : "",
                       r.root >= 0 ? detail::str(" root ", r.root) : "",
                       r.algo >= 0 ? detail::str(" (", to_string(static_cast<Algorithm>(r.algo)), ")") : "");
  };
  bool same = true;
  for (const Record& r : all) {
    same &= r.seq == all[0].seq && r.count == all[0].count && r.op == all[0].op && r.dtype == all[0].dtype &&
            r.root == all[0].root && r.algo == all[0].algo && r.reduce_op == all[0].reduce_op;
  }
  if (same) return;
  std::string msg =
      detail::str("ICCRT_DEBUG: ranks of group '", name, "' disagree on collective seq ", t.info.seq, ":");
  for (int r = 0; r < size; ++r) msg += detail::str("\n  rank ", r, ": seq ", all[r].seq, " ", text(all[r]));
  throw CommError(msg);
}

}  // namespace iccrt::comm
