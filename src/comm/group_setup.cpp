// Building a group: who sits where (machines and topology hosts), the shared-memory segment of each machine, the
// MPI communicator between machines, and the router that picks one of them per peer.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "src/comm/bootstrap/env.hpp"
#include "src/comm/group_impl.hpp"
#include "src/comm/tunables.hpp"

namespace iccrt::comm {

namespace {

constexpr char kSep = '\x1f';

std::vector<std::string> split_fields(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == kSep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string random_hex() {
  std::random_device rd;
  std::ostringstream os;
  os << std::hex << rd() << rd();
  return os.str();
}

}  // namespace

ProcessGroup::Impl::Impl() : recorder(static_cast<size_t>(tunables().flight_recorder)) {}

shm::BoardEntry* ProcessGroup::Impl::board(int group_rank) const {
  if (!segment.valid() || machine_of[group_rank] != machine_of[rank]) return nullptr;
  return &segment.board(local_index[group_rank]);
}

void ProcessGroup::Impl::setup(Bootstrap& bs) {
  ICCRT_ASSERT(bs.rank() == rank && bs.size() == size, "bootstrap does not match the group");
  // ---- round 1: who is where ----
  std::string host = opts.host_id;
  if (host.empty()) host = env_str("ICCRT_HOST_ID", "");
  const std::string machine = machine_identity();
  if (host.empty()) host = machine;
  const std::string mine = machine + kSep + host + kSep + std::to_string(getpid()) + kSep + random_hex();
  const std::vector<std::string> all = bs.allgather(mine);
  machine_of.resize(size);
  host_of.resize(size);
  pid_of.resize(size);
  for (int r = 0; r < size; ++r) {
    const auto f = split_fields(all[r]);
    if (f.size() != 4) throw CommError(detail::str("group '", name, "': garbled bootstrap record from rank ", r));
    machine_of[r] = f[0];
    host_of[r] = f[1];
    pid_of[r] = std::stoll(f[2]);
  }
  uid = split_fields(all[0])[3];

  // Machines and topology hosts, each in order of their lowest rank.
  local_index.assign(size, 0);
  std::map<std::string, int> per_machine;
  for (int r = 0; r < size; ++r) {
    local_index[r] = per_machine[machine_of[r]]++;
    if (machine_of[r] == machine_of[rank]) machine_ranks.push_back(r);
    if (host_of[r] == host_of[rank]) host_ranks.push_back(r);
  }
  std::vector<std::string> hosts;  // distinct topology hosts, by first rank
  std::map<std::string, std::vector<int>> host_members;
  for (int r = 0; r < size; ++r) {
    if (!host_members.count(host_of[r])) hosts.push_back(host_of[r]);
    host_members[host_of[r]].push_back(r);
  }
  num_hosts = static_cast<int>(hosts.size());
  hosts_uniform = true;
  for (const auto& h : hosts) hosts_uniform &= host_members[h].size() == host_ranks.size();
  const int my_host_index =
      static_cast<int>(std::find(host_ranks.begin(), host_ranks.end(), rank) - host_ranks.begin());
  if (hosts_uniform) {
    for (const auto& h : hosts) cross_ranks.push_back(host_members[h][my_host_index]);
  }

  // A topology host must not span machines: its ranks share memory in the hierarchical algorithms.
  for (int r = 0; r < size; ++r) {
    if (host_of[r] == host_of[rank] && machine_of[r] != machine_of[rank]) {
      throw CommError(detail::str("group '", name, "': ranks ", rank, " and ", r, " claim the same host '", host_of[r],
                                  "' but run on different machines (check ICCRT_HOST_ID)"));
    }
  }

  const bool force_mpi = opts.transport == "mpi";
  ICCRT_CHECK_VALUE(force_mpi || opts.transport == "auto" || opts.transport == "shm",
                    "ProcessGroupOptions::transport must be auto, shm or mpi, got '", opts.transport, "'");
  const bool need_mpi = force_mpi || machine_ranks.size() != static_cast<size_t>(size);
  if (need_mpi && !mpi_comm) {
    throw CommError(detail::str(
        "group '", name, "': ", force_mpi ? "transport 'mpi' was requested" : "ranks run on more than one machine",
        ", which needs the MPI transport, but this group was not created from an MPI launch (use mpirun / srun "
        "with MPI, or keep all ranks on one machine)"));
  }

  // ---- rounds 2 and 3: the machine's shared-memory segment ----
  const int nlocal = static_cast<int>(machine_ranks.size());
  const bool use_shm_segment = nlocal > 1;
  shm::Layout layout;
  if (use_shm_segment) {
    const Tunables& tn = tunables();
    layout.nlocal = nlocal;
    layout.slot_bytes = tn.shm_slot_bytes / shm::kLine * shm::kLine;
    layout.nslots = tn.shm_slots;
    layout.arena_chunk = tn.direct_chunk_bytes / shm::kLine * shm::kLine;
    layout.arena_stages = 4;
    if (num_hosts == 1 && nlocal == size) {
      std::vector<int> all_local(nlocal);
      for (int i = 0; i < nlocal; ++i) all_local[i] = i;
      layout.arena_members.push_back(all_local);
    } else {
      // One arena per topology host on this machine, in order of their first rank.
      for (const auto& h : hosts) {
        const auto& mem = host_members[h];
        if (machine_of[mem[0]] != machine_of[rank]) continue;
        std::vector<int> idx;
        for (int r : mem) idx.push_back(local_index[r]);
        layout.arena_members.push_back(idx);
      }
    }
  }
  const bool leader = use_shm_segment && machine_ranks[0] == rank;
  const std::string seg_name = "/iccrt-" + uid + "-" + std::to_string(machine_ranks[0]);
  std::string create_error;
  if (leader) {
    try {
      segment = shm::Segment::create(seg_name, layout);
    } catch (const std::exception& e) {
      create_error = e.what();
    }
  }
  // Everyone learns whether every leader succeeded, so that a failure fails all ranks instead of hanging some.
  const auto created = bs.allgather(create_error);
  for (int r = 0; r < size; ++r) {
    if (!created[r].empty()) {
      throw CommError(detail::str("group '", name, "': rank ", r, " could not create its shared memory: ", created[r]));
    }
  }
  std::string open_error;
  if (use_shm_segment && !leader) {
    try {
      segment = shm::Segment::open(seg_name, layout);
    } catch (const std::exception& e) {
      open_error = e.what();
    }
  }
  const auto opened = bs.allgather(open_error);
  if (leader) segment.unlink();  // Note [Shared-memory lifetime]
  for (int r = 0; r < size; ++r) {
    if (!opened[r].empty()) {
      throw CommError(detail::str("group '", name, "': rank ", r, " could not map shared memory: ", opened[r]));
    }
  }

  // ---- transports ----
  note_colocated_ranks(nlocal);
  if (use_shm_segment) {
    shm::BoardEntry& me = segment.board(local_index[rank]);
    me.pid.store(getpid(), std::memory_order_relaxed);
    if (!force_mpi) shm = std::make_unique<shm::ShmTransport>(segment, local_index[rank], machine_ranks);
  }
  if (mpi_comm) {
    ICCRT_ASSERT(mpi_comm->rank() == rank && mpi_comm->size() == size, "MPI communicator does not match the group");
    mpi = mpi_comm->make_transport();
  }
  std::vector<Router::Route> routes(size);
  for (int r = 0; r < size; ++r) {
    if (r == rank) continue;
    if (shm && machine_of[r] == machine_of[rank]) {
      routes[r] = {shm.get(), local_index[r]};
    } else {
      routes[r] = {mpi.get(), r};
    }
  }
  router = std::make_unique<Router>(rank, std::move(routes));
  if (use_shm_segment) {
    for (size_t a = 0; a < layout.arena_members.size(); ++a) {
      const auto& idx = layout.arena_members[a];
      const auto pos = std::find(idx.begin(), idx.end(), local_index[rank]);
      if (pos == idx.end()) continue;
      std::vector<int> granks;
      for (int li : idx) granks.push_back(machine_ranks[li]);
      auto arena =
          std::make_unique<shm::DirectArena>(segment, static_cast<int>(a), static_cast<int>(pos - idx.begin()), granks);
      if (num_hosts == 1 && nlocal == size) {
        direct = std::move(arena);
      } else {
        host_arena = std::move(arena);
      }
    }
  }
  host_p2p = std::make_unique<SubTransport>(*router, host_ranks, my_host_index);
  if (hosts_uniform) {
    const int my_cross = static_cast<int>(std::find(hosts.begin(), hosts.end(), host_of[rank]) - hosts.begin());
    cross_p2p = std::make_unique<SubTransport>(*router, cross_ranks, my_cross);
  }
}

namespace {

bool process_alive(int64_t pid) {
  if (pid <= 0) return true;
  if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  // A zombie still answers kill(); its state in /proc says it is gone.
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return true;
  const auto close = line.rfind(')');
  return !(close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z');
}

}  // namespace

void ProcessGroup::Impl::check_peers(uint64_t seq) const {
  // Root causes first: a rank that left or died without failing an op itself. A rank whose op failed (and that
  // may have left since) is usually an echo of another rank's problem, so it is named last, together with the
  // ranks that did not arrive.
  int echo = -1;
  std::string echo_what;
  for (int r : machine_ranks) {
    if (r == rank) continue;
    const shm::BoardEntry* b = board(r);
    if (!b) continue;
    if (b->seq_entered.load(std::memory_order_acquire) >= seq && b->seq_done.load(std::memory_order_acquire) >= seq) {
      continue;  // it finished this op; whatever it does now cannot block us
    }
    const bool failed = b->failed.load(std::memory_order_acquire) != 0;
    const bool left = b->left.load(std::memory_order_acquire) != 0;
    const bool dead = pid_of[r] != getpid() && !process_alive(pid_of[r]);
    if (!failed && (left || dead)) {
      throw CommError(dead ? detail::str("rank ", r, " of group '", name, "' (pid ", pid_of[r],
                                         ") died before arriving at seq ", seq)
                           : detail::str("rank ", r, " of group '", name,
                                         "' left the group (shut down or exited) after seq ", b->seq_done.load(),
                                         ", before arriving at seq ", seq));
    }
    if (failed && echo < 0) {
      echo = r;
      echo_what = left || dead ? "failed and left" : "failed";
    }
  }
  if (echo >= 0) {
    const std::string missing = missing_ranks(seq);
    throw CommError(detail::str("rank ", echo, " of group '", name, "' ", echo_what,
                                " (see its error) while this rank waited in seq ", seq, missing.empty() ? "" : "; ",
                                missing));
  }
}

std::string ProcessGroup::Impl::missing_ranks(uint64_t seq) const {
  std::string late, elsewhere;
  for (int r = 0; r < size; ++r) {
    if (r == rank) continue;
    const shm::BoardEntry* b = board(r);
    if (!b) {
      elsewhere += (elsewhere.empty() ? "" : ", ") + std::to_string(r);
      continue;
    }
    const uint64_t entered = b->seq_entered.load(std::memory_order_acquire);
    if (entered < seq) {
      late += (late.empty() ? "" : ", ") + std::to_string(r) + " (last started seq " + std::to_string(entered) + ")";
    }
  }
  std::string s;
  if (!late.empty()) s += "ranks that did not arrive: " + late;
  if (!elsewhere.empty())
    s += std::string(s.empty() ? "" : "; ") + "ranks on other machines (state unknown): " + elsewhere;
  if (s.empty() && seq > 0) s = "every co-located rank arrived; a transfer stalled";
  return s;
}

}  // namespace iccrt::comm
