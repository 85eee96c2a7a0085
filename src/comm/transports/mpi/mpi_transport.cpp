#include "src/comm/transports/mpi/mpi_transport.hpp"

#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace iccrt::comm::mpi {

namespace {

std::mutex& mpi_mutex() {
  static std::mutex mu;
  return mu;
}

std::string mpi_error(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, buf, &len);
  return std::string(buf, static_cast<size_t>(len));
}

void check(int code, const char* what) {
  if (code != MPI_SUCCESS) throw CommError(detail::str(what, " failed: ", mpi_error(code)));
}

bool g_we_initialised = false;

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

// Messages larger than this go as several MPI messages (MPI counts are int).
constexpr size_t kMaxPiece = size_t(1) << 30;

class MpiRequest final : public Request {
 public:
  MpiRequest(bool is_send, int peer, size_t bytes, uint32_t tag, std::string comm_name)
      : is_send_(is_send), peer_(peer), bytes_(bytes), tag_(tag), comm_name_(std::move(comm_name)) {}
  ~MpiRequest() override {
    // Abandoned (an error elsewhere): cancel what is still pending so MPI does not write into freed memory.
    std::lock_guard<std::mutex> lock(mpi_mutex());
    for (auto& r : reqs_) {
      if (r != MPI_REQUEST_NULL) {
        MPI_Cancel(&r);
        MPI_Request_free(&r);
      }
    }
  }
  std::vector<MPI_Request> reqs_;
  std::vector<size_t> piece_bytes_;

  bool test() override {
    if (done_) return true;
    std::lock_guard<std::mutex> lock(mpi_mutex());
    int flag = 0;
    std::vector<MPI_Status> st(reqs_.size());
    check(MPI_Testall(static_cast<int>(reqs_.size()), reqs_.data(), &flag, st.data()), "MPI_Testall");
    if (!flag) return false;
    done_ = true;
    if (!is_send_) {
      for (size_t i = 0; i < st.size(); ++i) {
        int got = 0;
        MPI_Get_count(&st[i], MPI_BYTE, &got);
        if (static_cast<uint32_t>(st[i].MPI_TAG) != wire_tag(tag_) || static_cast<size_t>(got) != piece_bytes_[i]) {
          throw CommError(detail::str("mismatched message from rank ", peer_, ": expected ", bytes_, " B with tag ",
                                      wire_tag(tag_), ", got a piece of ", got, " B with tag ", st[i].MPI_TAG,
                                      " (ranks called different collectives, counts or dtypes; "
                                      "ICCRT_DEBUG=1 reports which)"));
        }
      }
    }
    return true;
  }
  std::string describe() const override {
    return detail::str(is_send_ ? "MPI send " : "MPI recv ", bytes_, " B ", is_send_ ? "to" : "from", " rank ", peer_);
  }
  static uint32_t wire_tag(uint32_t tag) { return tag % 32768u; }  // MPI guarantees tags up to 32767

 private:
  bool is_send_;
  int peer_;
  size_t bytes_;
  uint32_t tag_;
  std::string comm_name_;
  bool done_ = false;
};

class MpiTransport final : public Transport {
 public:
  explicit MpiTransport(MPI_Comm comm) : comm_(comm) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  const char* name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  RequestPtr isend(int peer, const void* buf, size_t bytes, uint32_t tag) override {
    auto r = std::make_unique<MpiRequest>(true, peer, bytes, tag, "");
    std::lock_guard<std::mutex> lock(mpi_mutex());
    const auto* p = static_cast<const char*>(buf);
    size_t off = 0;
    do {  // a zero-byte message still travels (it carries the tag)
      const size_t n = std::min(kMaxPiece, bytes - off);
      r->reqs_.emplace_back(MPI_REQUEST_NULL);
      r->piece_bytes_.push_back(n);
      check(MPI_Isend(p + off, static_cast<int>(n), MPI_BYTE, peer, static_cast<int>(MpiRequest::wire_tag(tag)), comm_,
                      &r->reqs_.back()),
            "MPI_Isend");
      off += n;
    } while (off < bytes);
    return r;
  }

  RequestPtr irecv(int peer, void* buf, size_t bytes, uint32_t tag) override {
    auto r = std::make_unique<MpiRequest>(false, peer, bytes, tag, "");
    std::lock_guard<std::mutex> lock(mpi_mutex());
    auto* p = static_cast<char*>(buf);
    size_t off = 0;
    do {
      const size_t n = std::min(kMaxPiece, bytes - off);
      r->reqs_.emplace_back(MPI_REQUEST_NULL);
      r->piece_bytes_.push_back(n);
      // Any tag: messages from one peer match in posting order; the tag is checked on completion, so ranks
      // that disagree get an error instead of a silent mismatch or a hang.
      check(MPI_Irecv(p + off, static_cast<int>(n), MPI_BYTE, peer, MPI_ANY_TAG, comm_, &r->reqs_.back()), "MPI_Irecv");
      off += n;
    } while (off < bytes);
    return r;
  }

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 0;
};

// Bootstrap over MPI_Iallgather + MPI_Iallgatherv, polled against a deadline.
class MpiBootstrap final : public Bootstrap {
 public:
  MpiBootstrap(MPI_Comm comm, std::chrono::milliseconds timeout) : comm_(comm), timeout_(timeout) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::vector<std::string> allgather(const std::string& mine) override {
    const WaitContext w = WaitContext::with_timeout(timeout_, "MPI bootstrap allgather");
    int len = static_cast<int>(mine.size());
    std::vector<int> lens(size_);
    poll([&](MPI_Request* r) { return MPI_Iallgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, comm_, r); }, w);
    std::vector<int> displs(size_);
    size_t total = 0;
    for (int i = 0; i < size_; ++i) {
      displs[i] = static_cast<int>(total);
      total += static_cast<size_t>(lens[i]);
    }
    std::string all(total, '\0');
    poll(
        [&](MPI_Request* r) {
          return MPI_Iallgatherv(mine.data(), len, MPI_BYTE, all.data(), lens.data(), displs.data(), MPI_BYTE, comm_,
                                 r);
        },
        w);
    std::vector<std::string> out(size_);
    for (int i = 0; i < size_; ++i) out[i] = all.substr(static_cast<size_t>(displs[i]), static_cast<size_t>(lens[i]));
    return out;
  }

 private:
  template <class Start>
  void poll(Start start, const WaitContext& w) {
    MPI_Request req = MPI_REQUEST_NULL;
    {
      std::lock_guard<std::mutex> lock(mpi_mutex());
      check(start(&req), "MPI_Iallgather");
    }
    wait_until(
        [&] {
          std::lock_guard<std::mutex> lock(mpi_mutex());
          int flag = 0;
          check(MPI_Test(&req, &flag, MPI_STATUS_IGNORE), "MPI_Test");
          return flag != 0;
        },
        w, [] { return std::string("all ranks of the MPI communicator"); });
  }
  MPI_Comm comm_;
  std::chrono::milliseconds timeout_;
  int rank_ = 0, size_ = 0;
};

class MpiComm final : public Comm {
 public:
  explicit MpiComm(MPI_Comm c) : comm_(c) {
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiComm() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
      std::lock_guard<std::mutex> lock(mpi_mutex());
      MPI_Comm_free(&comm_);
    }
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::unique_ptr<Comm> split(int color, int key, const WaitContext& w) const override {
    // MPI_Comm_split blocks without a timeout; the group has just run an allgather over every rank, so all
    // of them are here and it cannot hang on a missing peer.
    MPI_Comm out = MPI_COMM_NULL;
    {
      std::lock_guard<std::mutex> lock(mpi_mutex());
      check(MPI_Comm_split(comm_, color < 0 ? MPI_UNDEFINED : color, key, &out), "MPI_Comm_split");
    }
    if (out == MPI_COMM_NULL) return nullptr;
    return std::make_unique<MpiComm>(out);
  }
  std::unique_ptr<Transport> make_transport() override { return std::make_unique<MpiTransport>(comm_); }
  std::unique_ptr<Bootstrap> make_bootstrap(std::chrono::milliseconds timeout) override {
    return std::make_unique<MpiBootstrap>(comm_, timeout);
  }

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 0;
};

}  // namespace

bool available() { return true; }

bool initialized() {
  int flag = 0;
  MPI_Initialized(&flag);
  return flag != 0;
}

void ensure_initialized() {
  std::lock_guard<std::mutex> lock(mpi_mutex());
  int flag = 0;
  MPI_Initialized(&flag);
  if (flag) return;
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
  g_we_initialised = true;
  std::atexit(finalize_at_exit);
}

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

std::string library_version() {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string s(buf, static_cast<size_t>(len));
  const auto nl = s.find_first_of("\n,");
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::unique_ptr<Comm> world() {
  ensure_initialized();
  MPI_Comm c = MPI_COMM_NULL;
  {
    std::lock_guard<std::mutex> lock(mpi_mutex());
    check(MPI_Comm_dup(MPI_COMM_WORLD, &c), "MPI_Comm_dup");
  }
  return std::make_unique<MpiComm>(c);
}

}  // namespace iccrt::comm::mpi
