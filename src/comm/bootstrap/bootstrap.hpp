#pragma once
// Bootstrap: the few all-to-all exchanges a group needs while it is being built (machine identities, shared-
// memory segment names, MPI / NCCL ids). Implemented over a Store (TCP or in-process), over MPI
// (transports/mpi/mpi_bootstrap.cpp) and over a parent group (sub-groups; process_group.cpp).
#include <memory>
#include <string>
#include <vector>

#include "iccrt/comm/store.hpp"

namespace iccrt::comm {

class Bootstrap {
 public:
  virtual ~Bootstrap() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every rank contributes `mine` (any bytes, any length up to TcpStore::kMaxValueBytes); returns all
  // contributions indexed by rank. Collective; bounded by the store's / group's timeout.
  virtual std::vector<std::string> allgather(const std::string& mine) = 0;
  void barrier() { allgather(std::string()); }
};

// Keys are "<prefix>/<round>/<rank>"; `prefix` must be unique per group so groups never read each other's keys.
std::unique_ptr<Bootstrap> make_store_bootstrap(std::shared_ptr<Store> store, int rank, int size, std::string prefix);

}  // namespace iccrt::comm
