#pragma once
// MPI point-to-point transport (between hosts; on InfiniBand / RoCE clusters Open MPI runs it over UCX, i.e.
// RDMA). Each group owns a duplicate communicator, so its traffic never mixes with another group's or the
// application's. Calls are serialised by one process-wide mutex (so any MPI thread level works) and every wait
// polls MPI_Test* with the group's deadline: MPI itself has no timeouts.
//
// Built only with ICCRT_HAVE_MPI; without it, available() is false and the rest throws NotImplemented.
#include <memory>
#include <string>

#include "src/comm/bootstrap/bootstrap.hpp"
#include "src/comm/transport.hpp"

namespace iccrt::comm::mpi {

bool available();    // built with MPI
bool initialized();  // MPI_Init* has been called (by us or the application)
// MPI_Init_thread if nobody did yet; then iccrt finalises MPI at exit (an application that initialised MPI
// itself finalises it itself).
void ensure_initialized();
int world_rank();
int world_size();
std::string library_version();  // "Open MPI v4.1.4, ..." (first line)

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Collective over this communicator. color < 0: this rank joins none (returns nullptr).
  virtual std::unique_ptr<Comm> split(int color, int key, const WaitContext& w) const = 0;
  virtual std::unique_ptr<Transport> make_transport() = 0;
  // Exchanges with MPI_Iallgather(v), polled with `timeout`.
  virtual std::unique_ptr<Bootstrap> make_bootstrap(std::chrono::milliseconds timeout) = 0;
};

// A duplicate of MPI_COMM_WORLD.
std::unique_ptr<Comm> world();

}  // namespace iccrt::comm::mpi
