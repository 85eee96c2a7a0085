#pragma once
// How this process was launched, read from the environment, and who this machine is.
#include <string>

namespace iccrt::comm {

struct LaunchInfo {
  enum class Method { Single, Mpi, Slurm, Torchrun };
  Method method = Method::Single;
  int rank = 0;
  int size = 1;
  int local_rank = -1;  // -1: the launcher did not say (co-location is found from machine identities anyway)
  // TCP rendezvous (Slurm and torchrun; also MPI launches when iccrt was built without MPI).
  std::string master_addr;
  int master_port = 0;
  // Shared secret for the TCP store; every rank of one job derives the same value (see env.cpp).
  std::string token;
};

// Reads, in this order: MPI launchers (OMPI_COMM_WORLD_RANK/SIZE, PMI_RANK/PMI_SIZE, PMIX_RANK), torchrun-style
// RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT, Slurm SLURM_PROCID / SLURM_NTASKS (MASTER_ADDR from the env or
// the first host of SLURM_STEP_NODELIST / SLURM_JOB_NODELIST, MASTER_PORT from the env or derived from
// SLURM_JOB_ID). Nothing set: Single (rank 0 of 1). Garbled or inconsistent values (rank >= size, non-numbers,
// a missing MASTER_ADDR) raise ValueError naming the variable.
LaunchInfo detect_launch();
const char* to_string(LaunchInfo::Method m);

// Identity of this machine for deciding which ranks can share memory: hostname plus the kernel's boot id, so two
// containers with the same hostname on different machines differ. ICCRT_HOST_ID overrides the *topology* host
// (see ProcessGroupOptions::host_id), never this.
std::string machine_identity();

// First host of a Slurm nodelist: "node[03-05,07],gpu1" -> "node03"; "a1,b2" -> "a1"; "solo" -> "solo".
std::string slurm_first_host(const std::string& nodelist);

}  // namespace iccrt::comm
