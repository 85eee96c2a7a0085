// Launch detection from the environment, the machine identity, and Slurm nodelists (see env.hpp).
#include "src/comm/bootstrap/env.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>

#include "iccrt/comm/types.hpp"
#include "iccrt/core/error.hpp"

namespace iccrt::comm {

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

// Launchers write plain decimal; anything else (empty, "3x", " 3", overflow) is a broken environment, and a
// ValueError naming the variable beats a rank that silently becomes 0.
int64_t parse_int(const char* name, const std::string& value) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  ICCRT_CHECK_VALUE(!value.empty() && ec == std::errc() && end == value.data() + value.size(), name, "='", value,
                    "' is not an integer");
  return v;
}

std::optional<int64_t> env_int(const char* name) {
  auto v = env(name);
  if (!v) return std::nullopt;
  return parse_int(name, *v);
}

int require_int(const char* name, const char* why) {
  auto v = env(name);
  ICCRT_CHECK_VALUE(v.has_value(), name, " is not set (", why, ")");
  return static_cast<int>(parse_int(name, *v));
}

void check_rank_size(const char* rank_name, int64_t rank, const char* size_name, int64_t size) {
  ICCRT_CHECK_VALUE(size >= 1 && size <= (1 << 24), size_name, "=", size, " is not a valid world size");
  ICCRT_CHECK_VALUE(rank >= 0 && rank < size, rank_name, "=", rank, " is out of range for ", size_name, "=", size);
}

int check_local_rank(const char* name, std::optional<int64_t> v, int size) {
  if (!v) return -1;
  ICCRT_CHECK_VALUE(*v >= 0 && *v < size, name, "=", *v, " is out of range for a world of ", size);
  return static_cast<int>(*v);
}

int check_port(const char* name, int64_t port) {
  ICCRT_CHECK_VALUE(port >= 1 && port <= 65535, name, "=", port, " is not a TCP port");
  return static_cast<int>(port);
}

// MASTER_ADDR / MASTER_PORT when present (optional for MPI launches, which only need them without MPI).
void read_master(LaunchInfo& info) {
  if (auto a = env("MASTER_ADDR")) {
    ICCRT_CHECK_VALUE(!a->empty(), "MASTER_ADDR is set but empty");
    info.master_addr = *a;
  }
  if (auto p = env_int("MASTER_PORT")) info.master_port = check_port("MASTER_PORT", *p);
}

void detect_mpi(LaunchInfo& info) {
  info.method = LaunchInfo::Method::Mpi;
  const char* rank_name;
  const char* size_name = nullptr;
  if (env("OMPI_COMM_WORLD_RANK")) {
    rank_name = "OMPI_COMM_WORLD_RANK", size_name = "OMPI_COMM_WORLD_SIZE";
  } else if (env("PMI_RANK")) {
    rank_name = "PMI_RANK", size_name = "PMI_SIZE";
  } else {
    // PMIx publishes no size variable of its own; take it from whichever launcher layer sits on top.
    rank_name = "PMIX_RANK";
    for (const char* n : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"})
      if (env(n)) {
        size_name = n;
        break;
      }
    ICCRT_CHECK_VALUE(size_name != nullptr, "PMIX_RANK=", *env("PMIX_RANK"),
                      " is set but no world size is (OMPI_COMM_WORLD_SIZE, PMI_SIZE or SLURM_NTASKS)");
  }
  int64_t rank = parse_int(rank_name, *env(rank_name));
  int size = require_int(size_name, "needed with the MPI rank variable");
  check_rank_size(rank_name, rank, size_name, size);
  info.rank = static_cast<int>(rank), info.size = size;
  if (env("OMPI_COMM_WORLD_LOCAL_RANK"))
    info.local_rank = check_local_rank("OMPI_COMM_WORLD_LOCAL_RANK", env_int("OMPI_COMM_WORLD_LOCAL_RANK"), size);
  else
    info.local_rank = check_local_rank("MPI_LOCALRANKID", env_int("MPI_LOCALRANKID"), size);
  read_master(info);
}

void detect_torchrun(LaunchInfo& info) {
  info.method = LaunchInfo::Method::Torchrun;
  int64_t rank = require_int("RANK", "torchrun-style launch: WORLD_SIZE is set");
  int size = require_int("WORLD_SIZE", "torchrun-style launch: RANK is set");
  check_rank_size("RANK", rank, "WORLD_SIZE", size);
  info.rank = static_cast<int>(rank), info.size = size;
  info.local_rank = check_local_rank("LOCAL_RANK", env_int("LOCAL_RANK"), size);
  read_master(info);
  ICCRT_CHECK_VALUE(!info.master_addr.empty(), "MASTER_ADDR is not set (needed by a torchrun-style launch)");
  ICCRT_CHECK_VALUE(info.master_port != 0, "MASTER_PORT is not set (needed by a torchrun-style launch)");
}

void detect_slurm(LaunchInfo& info) {
  info.method = LaunchInfo::Method::Slurm;
  int64_t rank = parse_int("SLURM_PROCID", *env("SLURM_PROCID"));
  int size = require_int("SLURM_NTASKS", "needed with SLURM_PROCID");
  check_rank_size("SLURM_PROCID", rank, "SLURM_NTASKS", size);
  info.rank = static_cast<int>(rank), info.size = size;
  info.local_rank = check_local_rank("SLURM_LOCALID", env_int("SLURM_LOCALID"), size);
  read_master(info);
  if (info.master_addr.empty()) {
    for (const char* n : {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"}) {
      if (auto list = env(n)) {
        info.master_addr = slurm_first_host(*list);
        break;
      }
    }
    ICCRT_CHECK_VALUE(!info.master_addr.empty(),
                      "MASTER_ADDR is not set and no SLURM_STEP_NODELIST / SLURM_JOB_NODELIST to derive it from");
  }
  if (info.master_port == 0) {
    // Every rank of the job derives the same port, and two jobs sharing a first node rarely collide.
    auto job = env_int("SLURM_JOB_ID");
    ICCRT_CHECK_VALUE(job.has_value(), "MASTER_PORT is not set and SLURM_JOB_ID, to derive it from, is not either");
    ICCRT_CHECK_VALUE(*job >= 0, "SLURM_JOB_ID=", *job, " is negative");
    info.master_port = static_cast<int>(20000 + *job % 20000);
  }
}

// FNV-1a, then a splitmix64 finaliser so that similar inputs give unrelated digests.
uint64_t hash64(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  h ^= h >> 30, h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27, h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

// Note [Store token]
// The token keeps stray connections (another job that reuses the port, a scanner) out of the TCP store; every
// rank of one job must derive the same value without talking to the others. Rule:
//   1. ICCRT_STORE_TOKEN when set and not empty (set it yourself to make the token an actual secret);
//   2. otherwise a 128-bit hash of the rendezvous point (master address and port, as detected) and of every job
//      identifier present among SLURM_JOB_ID, TORCHELASTIC_RUN_ID, OMPI_MCA_orte_hnp_uri, PMIX_NAMESPACE.
// Rule 2 tells jobs apart but is no secret: anyone who can read the job's environment can compute it.
std::string derive_token(const LaunchInfo& info) {
  if (auto t = env("ICCRT_STORE_TOKEN"); t && !t->empty()) return *t;
  std::string material = "iccrt-store-v1\n" + info.master_addr + "\n" + std::to_string(info.master_port) + "\n";
  for (const char* n : {"SLURM_JOB_ID", "TORCHELASTIC_RUN_ID", "OMPI_MCA_orte_hnp_uri", "PMIX_NAMESPACE"})
    if (auto v = env(n)) material += std::string(n) + "=" + *v + "\n";
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(hash64(material, 0)),
                static_cast<unsigned long long>(hash64(material, 0x9e3779b97f4a7c15ull)));
  return buf;
}

}  // namespace

LaunchInfo detect_launch() {
  LaunchInfo info;
  if (env("OMPI_COMM_WORLD_RANK") || env("PMI_RANK") || env("PMIX_RANK"))
    detect_mpi(info);
  else if (env("RANK") || env("WORLD_SIZE"))
    detect_torchrun(info);
  else if (env("SLURM_PROCID"))
    detect_slurm(info);
  info.token = derive_token(info);
  return info;
}

const char* to_string(LaunchInfo::Method m) {
  switch (m) {
    case LaunchInfo::Method::Single:
      return "single";
    case LaunchInfo::Method::Mpi:
      return "mpi";
    case LaunchInfo::Method::Slurm:
      return "slurm";
    case LaunchInfo::Method::Torchrun:
      return "torchrun";
  }
  return "unknown";
}

std::string machine_identity() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) throw CommError(detail::str("gethostname: ", std::strerror(errno)));
  std::string id = host;
  // The boot id is per kernel boot, shared by every container on the machine. Without /proc (rare) the
  // hostname alone has to do.
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::string boot;
  if (f && std::getline(f, boot) && !boot.empty()) id += "/" + boot;
  return id;
}

std::string slurm_first_host(const std::string& nodelist) {
  // The first entry ends at the first comma outside brackets: "node[03-05,07],gpu1" -> "node[03-05,07]".
  std::string entry;
  int depth = 0;
  for (char c : nodelist) {
    if (c == ',' && depth == 0) break;
    if (c == '[') ++depth;
    if (c == ']') --depth;
    ICCRT_CHECK_VALUE(depth == 0 || depth == 1, "Slurm nodelist '", nodelist, "' has unbalanced brackets");
    entry += c;
  }
  ICCRT_CHECK_VALUE(depth == 0, "Slurm nodelist '", nodelist, "' has unbalanced brackets");
  ICCRT_CHECK_VALUE(!entry.empty(), "Slurm nodelist '", nodelist, "' has no first host");
  // Each bracket group ("[03-05,07]") becomes its first value ("03"), zero padding kept, so that
  // "rack[1-2]-n[01-04]" gives "rack1-n01".
  std::string host;
  for (size_t i = 0; i < entry.size(); ++i) {
    if (entry[i] != '[') {
      host += entry[i];
      continue;
    }
    size_t close = entry.find(']', i);
    std::string first = entry.substr(i + 1, close - i - 1);
    first = first.substr(0, first.find_first_of(",-"));
    ICCRT_CHECK_VALUE(!first.empty(), "Slurm nodelist '", nodelist, "' has an empty range");
    host += first;
    i = close;
  }
  return host;
}

}  // namespace iccrt::comm
