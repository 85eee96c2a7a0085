#pragma once
// Router: the group's point-to-point Transport. Each peer is reached through whichever transport can reach it
// (shared memory on this machine, MPI elsewhere); ranks are group ranks.
// SubTransport: a view of a Transport restricted to some of its ranks, renumbered 0..n-1 (hierarchical
// algorithms run their intra-host and inter-host phases on such views).
#include <vector>

#include "src/comm/transport.hpp"

namespace iccrt::comm {

class Router final : public Transport {
 public:
  struct Route {
    Transport* via = nullptr;  // null for ourselves
    int peer = -1;             // the peer's rank in `via`
  };
  Router(int rank, std::vector<Route> routes) : rank_(rank), routes_(std::move(routes)) {}
  const char* name() const override { return "router"; }
  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(routes_.size()); }
  RequestPtr isend(int peer, const void* buf, size_t bytes, uint32_t tag) override {
    return route(peer).via->isend(route(peer).peer, buf, bytes, tag);
  }
  RequestPtr irecv(int peer, void* buf, size_t bytes, uint32_t tag) override {
    return route(peer).via->irecv(route(peer).peer, buf, bytes, tag);
  }
  RequestPtr irecv_reduce(int peer, void* dst, size_t count, DType dtype, ReduceOp op, uint32_t tag) override {
    return route(peer).via->irecv_reduce(route(peer).peer, dst, count, dtype, op, tag);
  }
  const char* transport_to(int peer) const { return routes_[peer].via ? routes_[peer].via->name() : "self"; }

 private:
  const Route& route(int peer) const {
    ICCRT_ASSERT(peer >= 0 && peer < size() && peer != rank_ && routes_[peer].via, "no route to rank ", peer);
    return routes_[peer];
  }
  int rank_;
  std::vector<Route> routes_;
};

class SubTransport final : public Transport {
 public:
  // members[i] = rank in `parent` of sub-rank i; `me` = our sub-rank.
  SubTransport(Transport& parent, std::vector<int> members, int me)
      : parent_(parent), members_(std::move(members)), me_(me) {}
  const char* name() const override { return parent_.name(); }
  int rank() const override { return me_; }
  int size() const override { return static_cast<int>(members_.size()); }
  RequestPtr isend(int peer, const void* buf, size_t bytes, uint32_t tag) override {
    return parent_.isend(members_[peer], buf, bytes, tag);
  }
  RequestPtr irecv(int peer, void* buf, size_t bytes, uint32_t tag) override {
    return parent_.irecv(members_[peer], buf, bytes, tag);
  }
  RequestPtr irecv_reduce(int peer, void* dst, size_t count, DType dtype, ReduceOp op, uint32_t tag) override {
    return parent_.irecv_reduce(members_[peer], dst, count, dtype, op, tag);
  }

 private:
  Transport& parent_;
  std::vector<int> members_;
  int me_;
};

}  // namespace iccrt::comm
