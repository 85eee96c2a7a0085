#include "bench_ops.hpp"

#include <mpi.h>

#include <climits>
#include <cstring>
#include <sstream>
#include <vector>

#include "iccrt/comm/process_group.hpp"
#include "iccrt/core/config.hpp"
#include "iccrt/core/device.hpp"

namespace iccrt::bench {

namespace {

void mpi_check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(std::string(call) + " failed: " + std::string(msg, static_cast<size_t>(len)));
}
#define BENCH_MPI_CHECK(call) mpi_check((call), #call)

// ---- mpi ------------------------------------------------------------------------------------------------------

class MpiBackend final : public CommBackend {
 public:
  MpiBackend(const Options& o, const World& w) : o_(o), w_(w) {
    const bool reduces = is_reduction(o.collective);
    switch (o.dtype) {
      case DType::Float32:
        type_ = MPI_FLOAT;
        break;
      case DType::Float64:
        type_ = MPI_DOUBLE;
        break;
      case DType::Int32:
        type_ = MPI_INT32_T;
        break;
      case DType::Int64:
        type_ = MPI_INT64_T;
        break;
      case DType::Float16:
      case DType::BFloat16:
        // Moving 16-bit values needs no arithmetic; reducing them needs ops MPI does not have built in.
        if (reduces) {
          throw Unsupported(std::string("-a mpi: MPI has no built-in reductions for ") + dtype_name(o.dtype) +
                            " (MPI_Allreduce etc. support float32/64 and integers); use -d float or an iccrt "
                            "algorithm");
        }
        type_ = MPI_UINT16_T;
        break;
      default:
        throw Unsupported(std::string("-a mpi: unsupported dtype ") + dtype_name(o.dtype));
    }
    if (reduces && o.op == comm::ReduceOp::Avg && !is_floating(o.dtype)) {
      throw ValueError(std::string("avg needs a floating dtype, got ") + dtype_name(o.dtype));
    }
    switch (o.op) {
      case comm::ReduceOp::Sum:
      case comm::ReduceOp::Avg:
        op_ = MPI_SUM;
        break;  // avg: sum, then a division (as iccrt does it)
      case comm::ReduceOp::Prod:
        op_ = MPI_PROD;
        break;
      case comm::ReduceOp::Min:
        op_ = MPI_MIN;
        break;
      case comm::ReduceOp::Max:
        op_ = MPI_MAX;
        break;
    }
  }

  void start(const OpCall& c) override {
    ICCRT_CHECK_VALUE(c.count <= static_cast<size_t>(INT_MAX) / static_cast<size_t>(w_.size), "-a mpi: count ", c.count,
                      " is too large for MPI's int counts");
    const int n = static_cast<int>(c.count);
    void* in = c.in.data_ptr();
    void* out = c.out.data_ptr();
    MPI_Comm comm = MPI_COMM_WORLD;
    const int next = (w_.rank + 1) % w_.size, prev = (w_.rank - 1 + w_.size) % w_.size;
    switch (o_.collective) {
      case Collective::AllReduce:
        BENCH_MPI_CHECK(MPI_Allreduce(c.in_place ? MPI_IN_PLACE : in, out, n, type_, op_, comm));
        divide_if_avg(out, c.count);
        break;
      case Collective::AllGather:
        if (c.in_place) {
          BENCH_MPI_CHECK(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, out, n, type_, comm));
        } else {
          BENCH_MPI_CHECK(MPI_Allgather(in, n, type_, out, n, type_, comm));
        }
        break;
      case Collective::ReduceScatter:  // in place: in == out, the result lands in block 0
        BENCH_MPI_CHECK(MPI_Reduce_scatter_block(c.in_place ? MPI_IN_PLACE : in, out, n, type_, op_, comm));
        divide_if_avg(out, c.count);
        break;
      case Collective::Broadcast:
        if (!c.in_place && w_.rank == o_.root) std::memcpy(out, in, c.count * itemsize(o_.dtype));
        BENCH_MPI_CHECK(MPI_Bcast(out, n, type_, o_.root, comm));
        break;
      case Collective::Reduce:
        if (c.in_place) {
          BENCH_MPI_CHECK(MPI_Reduce(w_.rank == o_.root ? MPI_IN_PLACE : out, out, n, type_, op_, o_.root, comm));
        } else {
          BENCH_MPI_CHECK(MPI_Reduce(in, out, n, type_, op_, o_.root, comm));
        }
        if (w_.rank == o_.root) divide_if_avg(out, c.count);
        break;
      case Collective::AllToAll:
        if (c.in_place) {
          BENCH_MPI_CHECK(MPI_Alltoall(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, out, n, type_, comm));
        } else {
          BENCH_MPI_CHECK(MPI_Alltoall(in, n, type_, out, n, type_, comm));
        }
        break;
      case Collective::SendRecv:
        if (c.in_place) {
          BENCH_MPI_CHECK(MPI_Sendrecv_replace(out, n, type_, next, 0, prev, 0, comm, MPI_STATUS_IGNORE));
        } else {
          BENCH_MPI_CHECK(MPI_Sendrecv(in, n, type_, next, 0, out, n, type_, prev, 0, comm, MPI_STATUS_IGNORE));
        }
        break;
    }
  }
  void finish() override {}
  bool reduce_scatter_result_at_block0() const override { return true; }
  std::string describe() const override {
    static const char* const calls[] = {"MPI_Allreduce", "MPI_Allgather", "MPI_Reduce_scatter_block",
                                        "MPI_Bcast",     "MPI_Reduce",    "MPI_Alltoall",
                                        "MPI_Sendrecv"};
    std::string s =
        std::string("mpi: the MPI library's ") + calls[static_cast<int>(o_.collective)] + " on MPI_COMM_WORLD";
    if (o_.op == comm::ReduceOp::Avg && is_reduction(o_.collective)) s += " (avg: MPI_SUM, then a division)";
    return s;
  }

 private:
  void divide_if_avg(void* buf, size_t count) const {
    if (o_.op != comm::ReduceOp::Avg) return;
    if (o_.dtype == DType::Float32) {
      float* p = static_cast<float*>(buf);
      const float d = static_cast<float>(w_.size);
      for (size_t i = 0; i < count; ++i) p[i] /= d;
    } else {
      double* p = static_cast<double*>(buf);
      const double d = w_.size;
      for (size_t i = 0; i < count; ++i) p[i] /= d;
    }
  }

  Options o_;
  World w_;
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
  MPI_Op op_ = MPI_SUM;
};

// ---- iccrt and nccl: a ProcessGroup -------------------------------------------------------------------------

class GroupBackend : public CommBackend {
 public:
  GroupBackend(const Options& o, const World& w) : o_(o), w_(w) {
    comm::ProcessGroupOptions po;
    po.transport = o.transport;
    pg_ = comm::ProcessGroup::from_environment(po);
    ICCRT_CHECK_VALUE(pg_->size() == w.size && pg_->rank() == w.rank, "ProcessGroup::from_environment gave rank ",
                      pg_->rank(), " of ", pg_->size(), " but MPI says ", w.rank, " of ", w.size);
    copts_.algorithm = o.algorithm;
    copts_.blocking = o.blocking;  // -z 1 waits at once: let the op run on this thread
  }
  ~GroupBackend() override {
    try {
      finish();
      pg_->shutdown();
    } catch (...) {  // the error, if any, was reported by finish() already
    }
  }

  void finish() override {
    // Wait for all, then rethrow the first error: every op started must end before its buffers are reused.
    std::exception_ptr first;
    for (auto& work : pending_) {
      try {
        work->wait();
      } catch (...) {
        if (!first) first = std::current_exception();
      }
    }
    pending_.clear();
    if (first) std::rethrow_exception(first);
  }

 protected:
  void push(comm::WorkPtr work) { pending_.push_back(std::move(work)); }
  void done_starting() {
    if (o_.blocking) finish();
  }
  int next() const { return (w_.rank + 1) % w_.size; }
  int prev() const { return (w_.rank - 1 + w_.size) % w_.size; }

  Options o_;
  World w_;
  std::shared_ptr<comm::ProcessGroup> pg_;
  comm::CollectiveOptions copts_;
  std::vector<comm::WorkPtr> pending_;
};

class IccrtBackend final : public GroupBackend {
 public:
  using GroupBackend::GroupBackend;

  void start(const OpCall& c) override {
    const void* in = c.in.data_ptr();
    void* out = c.out.data_ptr();
    const DType t = o_.dtype;
    switch (o_.collective) {
      case Collective::AllReduce:
        push(pg_->all_reduce(in, out, c.count, t, o_.op, copts_));
        break;
      case Collective::AllGather:
        push(pg_->all_gather(in, out, c.count, t, copts_));
        break;
      case Collective::ReduceScatter:
        push(pg_->reduce_scatter(in, out, c.count, t, o_.op, copts_));
        break;
      case Collective::Broadcast:
        // ProcessGroup's broadcast is in place; out of place, the root first copies its input (as MPI does here),
        // after the ops still reading `out` (with -z 0) have finished.
        if (!c.in_place && w_.rank == o_.root) {
          finish();
          std::memcpy(out, in, c.count * itemsize(t));
        }
        push(pg_->broadcast(out, c.count, t, o_.root, copts_));
        break;
      case Collective::Reduce:
        push(pg_->reduce(in, out, c.count, t, o_.op, o_.root, copts_));
        break;
      case Collective::AllToAll:
        push(pg_->all_to_all(in, out, c.count, t, copts_));
        break;
      case Collective::SendRecv:
        push(pg_->send(in, c.count, t, next()));
        push(pg_->recv(out, c.count, t, prev()));
        break;
    }
    done_starting();
  }
  // A send and a receive on one buffer at once would race.
  bool supports_in_place(Collective c) const override { return c != Collective::SendRecv; }
  std::string auto_choice(size_t bytes) const override {
    if (o_.collective != Collective::AllReduce || o_.algorithm != comm::Algorithm::Auto) return "";
    return comm::to_string(pg_->tuned_all_reduce_algorithm(bytes));
  }
  std::string describe() const override {
    std::ostringstream os;
    os << "iccrt " << iccrt::version() << " ProcessGroup '" << pg_->name() << "', algorithm "
       << comm::to_string(o_.algorithm);
    if (!auto_choice(0).empty()) os << " (the tuner's choice for each size: column 'algo')";
    os << ", transport " << o_.transport;
    return os.str();
  }
};

class NcclBackend final : public GroupBackend {
 public:
  NcclBackend(const Options& o, const World& w, int device) : GroupBackend(o, w), device_(DeviceType::CUDA, device) {}

  Device device() const override { return device_; }
  void start(const OpCall& c) override {
    // The tensor API reduces and broadcasts in place; out of place, the input is first copied on the device.
    Tensor in = c.in, out = c.out;
    switch (o_.collective) {
      case Collective::AllReduce:
        if (!c.in_place) out.copy_(in);
        push(pg_->all_reduce(out, o_.op, copts_));
        break;
      case Collective::AllGather:
        push(pg_->all_gather(out, in, copts_));
        break;
      case Collective::ReduceScatter:
        push(pg_->reduce_scatter(out, in, o_.op, copts_));
        break;
      case Collective::Broadcast:
        if (!c.in_place && w_.rank == o_.root) out.copy_(in);
        push(pg_->broadcast(out, o_.root, copts_));
        break;
      case Collective::Reduce:
        if (!c.in_place) out.copy_(in);
        push(pg_->reduce(out, o_.root, o_.op, copts_));
        break;
      case Collective::AllToAll:
        push(pg_->all_to_all(out, in, copts_));
        break;
      case Collective::SendRecv:
        push(pg_->send(in, next()));
        push(pg_->recv(out, prev()));
        break;
    }
    done_starting();
  }
  // NCCL's grouped sends and receives on one buffer would race.
  bool supports_in_place(Collective c) const override { return c != Collective::SendRecv && c != Collective::AllToAll; }
  std::string describe() const override {
    std::ostringstream os;
    os << "nccl: NCCL through iccrt " << iccrt::version() << " ProcessGroup '" << pg_->name() << "' (CUDA tensors on "
       << device_.str() << "; NCCL picks its algorithm)";
    return os.str();
  }

 private:
  Device device_;
};

}  // namespace

std::unique_ptr<CommBackend> make_backend(const Options& o, const World& w) {
  switch (o.backend) {
    case Backend::Mpi:
      return std::make_unique<MpiBackend>(o, w);
    case Backend::Iccrt:
      return std::make_unique<IccrtBackend>(o, w);
    case Backend::Nccl: {
      if (!cuda_compiled()) throw Unsupported("-a nccl: this iccrt was built without CUDA (ICCRT_WITH_CUDA=OFF)");
      const int gpus = cuda_device_count();
      if (gpus == 0) throw Unsupported("-a nccl: no CUDA device on this machine");
      if (w.local_size > gpus) {
        throw Unsupported("-a nccl: " + std::to_string(w.local_size) + " ranks share this machine but it has " +
                          std::to_string(gpus) + " CUDA device(s); NCCL needs one device per rank");
      }
      return std::make_unique<NcclBackend>(o, w, w.local_rank);
    }
  }
  return nullptr;
}

std::string mpi_library_version() {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string s(buf, static_cast<size_t>(len));
  s = s.substr(0, s.find_first_of(",\n"));  // "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4"
  int major = 0, minor = 0;
  MPI_Get_version(&major, &minor);
  return s + " (MPI " + std::to_string(major) + "." + std::to_string(minor) + ")";
}

}  // namespace iccrt::bench
