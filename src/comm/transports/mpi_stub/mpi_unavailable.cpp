// Built instead of transports/mpi when iccrt is configured without MPI (ICCRT_WITH_MPI=OFF or no MPI found).
#include "src/comm/transports/mpi/mpi_transport.hpp"

namespace iccrt::comm::mpi {

namespace {
[[noreturn]] void unavailable() {
  throw NotImplemented(
      "iccrt was built without MPI (ICCRT_WITH_MPI=OFF or no MPI found at configure time); "
      "install an MPI (Debian: libopenmpi-dev) and rebuild, or launch with torchrun-style "
      "RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT on one host");
}
}  // namespace

bool available() { return false; }
bool initialized() { return false; }
void ensure_initialized() { unavailable(); }
int world_rank() { unavailable(); }
int world_size() { unavailable(); }
std::string library_version() { return "none"; }
std::unique_ptr<Comm> world() { unavailable(); }

}  // namespace iccrt::comm::mpi
