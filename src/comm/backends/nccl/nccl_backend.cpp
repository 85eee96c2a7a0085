// NCCL backend of a ProcessGroup (see nccl_backend.hpp).
//
// Note [Non-blocking NCCL communicators]: every communicator is created with ncclConfig_t::blocking = 0, so no
// NCCL call ever blocks the host: ncclCommInitRankConfig, a collective or ncclGroupEnd may return ncclInProgress,
// and we poll ncclCommGetAsyncError (every 50 us) until it turns into ncclSuccess or an error, or the group's
// timeout passes. That is what lets a missing or dead peer end in CommTimeout / CommError instead of a hang, even
// during communicator creation. A kernel is only on the stream once the call has settled, so the Work's CUDA
// event is recorded after that, never before.
//
// Note [Aborting the group's communicators]: the first timeout or NCCL error aborts *all* communicators of the
// backend (auto, ring, tree): they share the peers, so one failure dooms the others, and later ops fail at once
// with the first reason instead of each waiting out its own timeout. Every NCCL call on a communicator, and every
// abort, happens under CommSet::mu, so no thread uses a handle that another one is freeing. Before aborting we
// note which pending ops had already finished on the GPU: their results are good and their Works succeed.
#include "src/comm/backends/nccl/nccl_backend.hpp"

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "iccrt/core/error.hpp"
#include "src/comm/backends/nccl/nccl_utils.hpp"
#include "src/core/cuda_runtime.hpp"

namespace iccrt::comm {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::microseconds(50);

// Which communicator an op runs on: NCCL's own choice, or one restricted to ring / tree (all_reduce only; see
// Note [NCCL_ALGO per communicator] in nccl_utils.hpp).
enum CommKey : int { kAutoComm = 0, kRingComm = 1, kTreeComm = 2, kNumComms = 3 };
constexpr std::array<const char*, kNumComms> kCommNames = {"auto", "ring", "tree"};
constexpr std::array<const char*, kNumComms> kNcclAlgo = {"", "Ring", "Tree"};

CommKey comm_key(Algorithm algo) {
  if (algo != Algorithm::Ring && algo != Algorithm::Tree) return kAutoComm;  // iccrt's own algorithms: NCCL picks
  if (detail::AlgoEnv::instance().user_set()) {
    static std::once_flag noted;
    std::call_once(noted, [] {
      std::fprintf(stderr,
                   "iccrt: NCCL_ALGO=%s is set in the environment; the NCCL backend uses it for every communicator "
                   "instead of passing the ring / tree choice through\n",
                   detail::AlgoEnv::instance().user_value().c_str());
    });
    return kAutoComm;
  }
  return algo == Algorithm::Ring ? kRingComm : kTreeComm;
}

class NcclWork;

// The communicators of one backend and what every Work needs to check on them. See Note [Aborting the group's
// communicators].
struct CommSet {
  std::mutex mu;
  std::array<ncclComm_t, kNumComms> comms{};
  std::string group;
  std::string failure;  // why the communicators were aborted; empty while healthy
  bool closed = false;  // the backend was destroyed (communicators finalized)
  std::vector<std::weak_ptr<NcclWork>> pending;

  // The first asynchronous error of any communicator (ncclSuccess if none); `text` describes it.
  ncclResult_t async_error_locked(std::string* text);
  // Aborts every communicator (idempotent); `why` becomes the failure later ops report.
  void abort_locked(const std::string& why);
  std::string aborted_message(const std::string& what) const {
    return what + ": the NCCL communicators of group '" + group + "' were aborted after an earlier failure (" +
           failure + ")";
  }
};

// A CUDA event recorded after the op, polled together with the communicators' asynchronous errors.
class NcclWork final : public Work {
 public:
  NcclWork(std::string description, std::shared_ptr<CommSet> comms, cudaEvent_t event,
           std::chrono::milliseconds timeout)
      : Work(std::move(description)),
        comms_(std::move(comms)),
        event_(event),
        timeout_(timeout),
        deadline_(Clock::now() + timeout) {}
  ~NcclWork() override {
    if (cudaEventDestroy(event_) != cudaSuccess) (void)cudaGetLastError();  // e.g. the runtime unloading at exit
  }

  bool is_completed() override {
    std::unique_lock<std::mutex> lock(poll_mu_, std::try_to_lock);
    if (!lock.owns_lock()) return Work::is_completed();  // another thread is polling: never block here
    return poll();
  }

  void wait() override {
    {
      std::unique_lock<std::mutex> lock(poll_mu_);
      while (!poll()) {
        lock.unlock();
        std::this_thread::sleep_for(kPollInterval);
        lock.lock();
      }
    }
    Work::wait();  // done: rethrows the op's error, if any
  }

  // Under CommSet::mu (from abort_locked): whether the op had finished on the GPU before the abort.
  void note_finished_before_abort_locked() {
    if (gpu_done_) return;
    if (cudaEventQuery(event_) == cudaSuccess) {
      gpu_done_ = true;
    } else {
      (void)cudaGetLastError();  // not ready (or failed): either way the op counts as cut short by the abort
    }
  }
  bool gpu_done_locked() const { return gpu_done_; }

 private:
  // One poll step under poll_mu_; true once the Work is done (mark_done called).
  bool poll() {
    if (Work::is_completed()) return true;
    std::exception_ptr error;
    {
      std::lock_guard<std::mutex> lock(comms_->mu);
      if (!comms_->failure.empty()) {
        if (!gpu_done_) error = std::make_exception_ptr(CommError(comms_->aborted_message(description_)));
      } else {
        const cudaError_t q = cudaEventQuery(event_);
        if (q == cudaSuccess) {
          gpu_done_ = true;
        } else if (q != cudaErrorNotReady) {
          const std::string msg = description_ +
                                  ": CUDA error while waiting for the NCCL op: " + detail::cuda_error_text(q) +
                                  "; the group's NCCL communicators were aborted";
          comms_->abort_locked(msg);
          error = std::make_exception_ptr(CommError(msg));
        } else {
          (void)cudaGetLastError();  // cudaErrorNotReady is an answer, not an error; keep it out of later checks
          std::string text;
          if (comms_->async_error_locked(&text) != ncclSuccess) {
            const std::string msg = description_ + ": NCCL reported an asynchronous error: " + text +
                                    "; the group's NCCL communicators were aborted";
            comms_->abort_locked(msg);
            error = std::make_exception_ptr(CommError(msg));
          } else if (Clock::now() >= deadline_) {
            const std::string msg = description_ + ": timed out after " + std::to_string(timeout_.count()) +
                                    " ms waiting for NCCL to finish (a rank of group '" + comms_->group +
                                    "' did not join this op, died, or is stuck); the group's NCCL communicators "
                                    "were aborted (ICCRT_TIMEOUT sets the limit)";
            comms_->abort_locked(msg);
            error = std::make_exception_ptr(CommTimeout(msg));
          } else {
            return false;
          }
        }
      }
    }
    mark_done(error);
    return true;
  }

  std::mutex poll_mu_;  // one poller at a time; CommSet::mu is taken inside it, never the other way round
  std::shared_ptr<CommSet> comms_;
  cudaEvent_t event_;
  std::chrono::milliseconds timeout_;
  Clock::time_point deadline_;
  bool gpu_done_ = false;  // guarded by comms_->mu
};

ncclResult_t CommSet::async_error_locked(std::string* text) {
  for (int k = 0; k < kNumComms; ++k) {
    ncclComm_t c = comms[static_cast<size_t>(k)];
    if (c == nullptr) continue;
    ncclResult_t state = ncclSuccess;
    const ncclResult_t r = ncclCommGetAsyncError(c, &state);
    const ncclResult_t bad = r != ncclSuccess ? r : state;
    if (bad != ncclSuccess && bad != ncclInProgress) {
      *text = detail::nccl_error_text(bad, c) + " (" + kCommNames[static_cast<size_t>(k)] + " communicator)";
      return bad;
    }
  }
  return ncclSuccess;
}

void CommSet::abort_locked(const std::string& why) {
  for (auto& weak : pending) {
    if (auto w = weak.lock()) w->note_finished_before_abort_locked();
  }
  pending.clear();
  for (auto& c : comms) {
    if (c == nullptr) continue;
    (void)ncclCommAbort(c);  // frees the communicator whatever it returns; nothing more can be done with it
    c = nullptr;
  }
  if (failure.empty()) failure = why;
}

// An event created on the current device, destroyed unless released to a Work.
class Event {
 public:
  explicit Event(const std::string& what) {
    const cudaError_t e = cudaEventCreateWithFlags(&ev_, cudaEventDisableTiming);
    if (e != cudaSuccess) throw Error(what + ": cudaEventCreate failed: " + detail::cuda_error_text(e));
  }
  ~Event() {
    if (ev_ != nullptr && cudaEventDestroy(ev_) != cudaSuccess) (void)cudaGetLastError();
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return ev_; }
  cudaEvent_t release() { return std::exchange(ev_, nullptr); }

 private:
  cudaEvent_t ev_ = nullptr;
};

WorkPtr completed_work(std::string description) {
  auto w = std::make_shared<Work>(std::move(description));
  w->mark_done();
  return w;
}

void check_device(int device, const std::string& what) {
  const int n = cuda::device_count();
  ICCRT_CHECK_DEVICE(device >= 0 && device < n, what, ": CUDA device ", device, " does not exist (", n,
                     n == 1 ? " device is" : " devices are", " visible)");
}

void check_buffer(const void* p, size_t count, const char* name, const std::string& what) {
  ICCRT_CHECK_VALUE(count == 0 || p != nullptr, what, ": ", name, " is null but count is ", count);
}

}  // namespace

struct NcclBackend::Impl {
  int rank;
  int size;
  std::chrono::milliseconds timeout;
  BroadcastFn broadcast;
  std::mutex op_mu;  // one op (or communicator creation, a collective call) at a time
  int device = -1;   // the CUDA device the communicators live on, fixed by the first op
  std::shared_ptr<CommSet> comms = std::make_shared<CommSet>();
  std::array<std::string, kNumComms> comm_names;  // ncclConfig_t::commName, alive as long as the communicators

  using Enqueue = std::function<ncclResult_t(ncclComm_t, cudaStream_t)>;

  // Runs one NCCL op on `key`'s communicator and the calling thread's current stream of `device`.
  WorkPtr launch(CommKey key, int device_index, const std::string& what, const Enqueue& enqueue) {
    std::lock_guard<std::mutex> op_lock(op_mu);
    ICCRT_CHECK_DEVICE(device < 0 || device == device_index, what, ": the NCCL communicators of group '", comms->group,
                       "' live on cuda:", device, " but this tensor is on cuda:", device_index,
                       " (one CUDA device per rank)");
    cuda::DeviceGuard guard(device_index);
    ncclComm_t comm = communicator(key, device_index, what);
    const auto stream = static_cast<cudaStream_t>(cuda::current_stream(device_index));
    Event event(what);
    const auto deadline = Clock::now() + timeout;
    {
      std::unique_lock<std::mutex> lock(comms->mu);
      if (!comms->failure.empty()) throw CommError(comms->aborted_message(what));
      settle(lock, comm, enqueue(comm, stream), deadline, what, "enqueueing the op");
    }
    const cudaError_t e = cudaEventRecord(event.get(), stream);
    if (e != cudaSuccess)
      throw Error(what + ": cudaEventRecord after the NCCL op failed: " + detail::cuda_error_text(e));
    auto work = std::make_shared<NcclWork>(what, comms, event.release(), timeout);
    std::lock_guard<std::mutex> lock(comms->mu);
    auto& pending = comms->pending;
    pending.erase(std::remove_if(pending.begin(), pending.end(),
                                 [](const std::weak_ptr<NcclWork>& weak) {
                                   const auto w = weak.lock();
                                   return w == nullptr || w->gpu_done_locked();
                                 }),
                  pending.end());
    pending.push_back(work);
    return work;
  }

  // Polls a non-blocking NCCL call that returned `r` until it settles (Note [Non-blocking NCCL communicators]).
  // Errors and timeouts abort the group's communicators and throw.
  void settle(std::unique_lock<std::mutex>& lock, ncclComm_t comm, ncclResult_t r, Clock::time_point deadline,
              const std::string& what, const char* doing) {
    while (r == ncclInProgress) {
      if (Clock::now() >= deadline) {
        const std::string msg = what + ": timed out after " + std::to_string(timeout.count()) + " ms " + doing +
                                " in NCCL (a rank of group '" + comms->group +
                                "' may be missing or dead); the group's NCCL communicators were aborted "
                                "(ICCRT_TIMEOUT sets the limit)";
        comms->abort_locked(msg);
        throw CommTimeout(msg);
      }
      lock.unlock();
      std::this_thread::sleep_for(kPollInterval);
      lock.lock();
      if (!comms->failure.empty()) throw CommError(comms->aborted_message(what));
      ncclResult_t state = ncclInProgress;
      const ncclResult_t q = ncclCommGetAsyncError(comm, &state);
      r = q != ncclSuccess ? q : state;
    }
    if (r != ncclSuccess) {
      const std::string msg = what + ": NCCL failed " + doing + ": " + detail::nccl_error_text(r, comm) +
                              "; the group's NCCL communicators were aborted";
      comms->abort_locked(msg);
      throw CommError(msg);
    }
  }

  // `key`'s communicator, created on first use (a collective call: every rank makes the same first use).
  ncclComm_t communicator(CommKey key, int device_index, const std::string& what) {
    const auto k = static_cast<size_t>(key);
    {
      std::lock_guard<std::mutex> lock(comms->mu);
      if (!comms->failure.empty()) throw CommError(comms->aborted_message(what));
      if (comms->comms[k] != nullptr) return comms->comms[k];
    }
    const std::string comm_what = what + ": creating the NCCL " + kCommNames[k] + " communicator of group '" +
                                  comms->group + "' (rank " + std::to_string(rank) + " of " + std::to_string(size) +
                                  " on cuda:" + std::to_string(device_index) + ")";
    const ncclUniqueId id = share_unique_id(comm_what);
    const auto deadline = Clock::now() + timeout;
    detail::AlgoEnvScope env(kNcclAlgo[k], deadline, comm_what);  // Note [NCCL_ALGO per communicator]

    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;  // Note [Non-blocking NCCL communicators]
    config.commName = comm_names[k].c_str();
    ncclComm_t comm = nullptr;
    ncclResult_t r = ncclCommInitRankConfig(&comm, size, id, rank, &config);
    while (r == ncclInProgress && comm != nullptr && Clock::now() < deadline) {
      std::this_thread::sleep_for(kPollInterval);
      ncclResult_t state = ncclInProgress;
      const ncclResult_t q = ncclCommGetAsyncError(comm, &state);
      r = q != ncclSuccess ? q : state;
    }
    std::lock_guard<std::mutex> lock(comms->mu);
    if (r != ncclSuccess) {
      std::string msg;
      if (r == ncclInProgress) {
        msg = comm_what + ": timed out after " + std::to_string(timeout.count()) +
              " ms: not every rank joined (a rank may be missing, dead, on another op, or not using CUDA "
              "tensors); the group's NCCL communicators were aborted (ICCRT_TIMEOUT sets the limit)";
      } else {
        msg = comm_what + ": " + detail::nccl_error_text(r, comm) + "; the group's NCCL communicators were aborted";
      }
      if (comm != nullptr) (void)ncclCommAbort(comm);
      comms->abort_locked(msg);  // the peers are inconsistent now: fail the group's later ops at once
      if (r == ncclInProgress) throw CommTimeout(msg);
      throw CommError(msg);
    }
    if (!comms->failure.empty()) {  // aborted by another thread while this one was being created
      (void)ncclCommAbort(comm);
      throw CommError(comms->aborted_message(what));
    }
    device = device_index;
    comms->comms[k] = comm;
    return comm;
  }

  // Rank 0 makes the id; the group's CPU broadcast hands it to everyone. A rank 0 that cannot make one still
  // broadcasts (an empty string), so the others fail at once instead of waiting for it.
  ncclUniqueId share_unique_id(const std::string& what) {
    ncclUniqueId id;
    std::memset(&id, 0, sizeof(id));
    std::string mine;
    ncclResult_t made = ncclSuccess;
    if (rank == 0) {
      made = ncclGetUniqueId(&id);
      if (made == ncclSuccess) mine.assign(reinterpret_cast<const char*>(&id), sizeof(id));
    }
    const std::string got = broadcast(mine);
    if (made != ncclSuccess) {
      throw CommError(what + ": ncclGetUniqueId failed: " + detail::nccl_error_text(made, nullptr));
    }
    if (got.size() != sizeof(id)) {
      throw CommError(what + ": rank 0 sent " + std::to_string(got.size()) + " bytes instead of an ncclUniqueId (" +
                      std::to_string(sizeof(id)) + " bytes); rank 0 could not create the NCCL id");
    }
    std::memcpy(&id, got.data(), sizeof(id));
    return id;
  }

  // Finalizes the communicators (bounded by the timeout), aborting any that does not finish cleanly.
  void close() noexcept {
    std::lock_guard<std::mutex> op_lock(op_mu);
    std::lock_guard<std::mutex> lock(comms->mu);
    comms->closed = true;
    for (size_t k = 0; k < comms->comms.size(); ++k) {
      ncclComm_t c = comms->comms[k];
      if (c == nullptr) continue;
      comms->comms[k] = nullptr;
      ncclResult_t r = ncclCommFinalize(c);  // flushes the ops still queued, then frees the shared resources
      const auto deadline = Clock::now() + timeout;
      while (r == ncclInProgress && Clock::now() < deadline) {
        std::this_thread::sleep_for(kPollInterval);
        ncclResult_t state = ncclInProgress;
        const ncclResult_t q = ncclCommGetAsyncError(c, &state);
        r = q != ncclSuccess ? q : state;
      }
      if (r == ncclSuccess) {
        (void)ncclCommDestroy(c);
      } else {
        std::fprintf(stderr, "iccrt: the NCCL %s communicator of group '%s' did not finalize (%s); aborting it\n",
                     kCommNames[k], comms->group.c_str(), r == ncclInProgress ? "timed out" : ncclGetErrorString(r));
        (void)ncclCommAbort(c);
      }
    }
  }
};

NcclBackend::NcclBackend(int rank, int size, std::string group_name, std::chrono::milliseconds timeout,
                         BroadcastFn broadcast)
    : impl_(std::make_unique<Impl>()) {
  ICCRT_CHECK_VALUE(size >= 1 && rank >= 0 && rank < size, "NcclBackend: rank ", rank, " is not in [0, ", size, ")");
  ICCRT_CHECK_VALUE(timeout.count() > 0, "NcclBackend: the timeout must be positive but is ", timeout.count(), " ms");
  ICCRT_CHECK_VALUE(static_cast<bool>(broadcast), "NcclBackend: a broadcast function is required");
  impl_->rank = rank;
  impl_->size = size;
  impl_->timeout = timeout;
  impl_->broadcast = std::move(broadcast);
  for (int k = 0; k < kNumComms; ++k) {
    impl_->comm_names[static_cast<size_t>(k)] = "iccrt:" + group_name + ":" + kCommNames[static_cast<size_t>(k)];
  }
  impl_->comms->group = std::move(group_name);
}

NcclBackend::~NcclBackend() { impl_->close(); }

WorkPtr NcclBackend::all_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int device,
                                Algorithm algo, std::string description) {
  const ncclDataType_t t = detail::nccl_dtype(dtype, description.c_str());
  detail::check_reducible(dtype, op, description.c_str());
  const ncclRedOp_t o = detail::nccl_op(op);
  check_device(device, description);
  if (count == 0) return completed_work(std::move(description));
  check_buffer(in, count, "the input", description);
  check_buffer(out, count, "the output", description);
  return impl_->launch(comm_key(algo), device, description,
                       [&](ncclComm_t c, cudaStream_t s) { return ncclAllReduce(in, out, count, t, o, c, s); });
}

WorkPtr NcclBackend::reduce_scatter(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int device,
                                    std::string description) {
  const ncclDataType_t t = detail::nccl_dtype(dtype, description.c_str());
  detail::check_reducible(dtype, op, description.c_str());
  const ncclRedOp_t o = detail::nccl_op(op);
  check_device(device, description);
  if (count == 0) return completed_work(std::move(description));
  check_buffer(in, count, "the input", description);
  check_buffer(out, count, "the output", description);
  return impl_->launch(kAutoComm, device, description,
                       [&](ncclComm_t c, cudaStream_t s) { return ncclReduceScatter(in, out, count, t, o, c, s); });
}

WorkPtr NcclBackend::all_gather(const void* in, void* out, size_t count, DType dtype, int device,
                                std::string description) {
  const ncclDataType_t t = detail::nccl_dtype(dtype, description.c_str());
  check_device(device, description);
  if (count == 0) return completed_work(std::move(description));
  check_buffer(in, count, "the input", description);
  check_buffer(out, count, "the output", description);
  return impl_->launch(kAutoComm, device, description,
                       [&](ncclComm_t c, cudaStream_t s) { return ncclAllGather(in, out, count, t, c, s); });
}

WorkPtr NcclBackend::broadcast(void* buf, size_t count, DType dtype, int root, int device, std::string description) {
  const ncclDataType_t t = detail::nccl_dtype(dtype, description.c_str());
  ICCRT_CHECK_VALUE(root >= 0 && root < impl_->size, description, ": root ", root, " is not a rank of the group (size ",
                    impl_->size, ")");
  check_device(device, description);
  if (count == 0) return completed_work(std::move(description));
  check_buffer(buf, count, "the buffer", description);
  return impl_->launch(kAutoComm, device, description,
                       [&](ncclComm_t c, cudaStream_t s) { return ncclBroadcast(buf, buf, count, t, root, c, s); });
}

WorkPtr NcclBackend::reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int root, int device,
                            std::string description) {
  const ncclDataType_t t = detail::nccl_dtype(dtype, description.c_str());
  detail::check_reducible(dtype, op, description.c_str());
  const ncclRedOp_t o = detail::nccl_op(op);
  ICCRT_CHECK_VALUE(root >= 0 && root < impl_->size, description, ": root ", root, " is not a rank of the group (size ",
                    impl_->size, ")");
  check_device(device, description);
  if (count == 0) return completed_work(std::move(description));
  check_buffer(in, count, "the input", description);
  if (impl_->rank == root) check_buffer(out, count, "the output (at the root)", description);
  return impl_->launch(kAutoComm, device, description,
                       [&](ncclComm_t c, cudaStream_t s) { return ncclReduce(in, out, count, t, o, root, c, s); });
}

WorkPtr NcclBackend::all_to_all(const void* in, void* out, size_t count, DType dtype, int device,
                                std::string description) {
  const ncclDataType_t t = detail::nccl_dtype(dtype, description.c_str());
  check_device(device, description);
  if (count == 0) return completed_work(std::move(description));
  check_buffer(in, count, "the input", description);
  check_buffer(out, count, "the output", description);
  const int n = impl_->size;
  const size_t block = count * static_cast<size_t>(itemsize(dtype));
  const size_t total = block * static_cast<size_t>(n);

  // In place, a block received early would overwrite one not yet sent: send from a stream-ordered copy.
  cuda::DeviceGuard guard(device);
  const auto stream = static_cast<cudaStream_t>(cuda::current_stream(device));
  void* staging = nullptr;
  const char* src = static_cast<const char*>(in);
  if (in == out) {
    cudaError_t e = cudaMallocAsync(&staging, total, stream);
    if (e != cudaSuccess) {
      throw Error(description + ": cannot allocate " + std::to_string(total) +
                  " bytes to stage the in-place all_to_all: " + detail::cuda_error_text(e));
    }
    e = cudaMemcpyAsync(staging, in, total, cudaMemcpyDeviceToDevice, stream);
    if (e != cudaSuccess) {
      if (cudaFreeAsync(staging, stream) != cudaSuccess) (void)cudaGetLastError();
      throw Error(description + ": staging the in-place all_to_all failed: " + detail::cuda_error_text(e));
    }
    src = static_cast<const char*>(staging);
  }
  // Freed in stream order after the NCCL kernels (launch returns once they are on the stream).
  auto free_staging = [&] {
    if (staging != nullptr && cudaFreeAsync(staging, stream) != cudaSuccess) (void)cudaGetLastError();
  };
  char* dst = static_cast<char*>(out);
  WorkPtr work;
  try {
    work = impl_->launch(kAutoComm, device, description, [&](ncclComm_t c, cudaStream_t s) {
      ncclResult_t r = ncclGroupStart();
      if (r != ncclSuccess) return r;
      for (int peer = 0; peer < n && r == ncclSuccess; ++peer) {
        const size_t off = block * static_cast<size_t>(peer);
        r = ncclSend(src + off, count, t, peer, c, s);
        if (r == ncclSuccess) r = ncclRecv(dst + off, count, t, peer, c, s);
      }
      const ncclResult_t end = ncclGroupEnd();  // always: leaves the group even after an error inside it
      return r != ncclSuccess ? r : end;
    });
  } catch (...) {
    free_staging();
    throw;
  }
  free_staging();
  return work;
}

WorkPtr NcclBackend::send(const void* buf, size_t count, DType dtype, int peer, int device, std::string description) {
  const ncclDataType_t t = detail::nccl_dtype(dtype, description.c_str());
  ICCRT_CHECK_VALUE(peer >= 0 && peer < impl_->size, description, ": peer ", peer, " is not a rank of the group (size ",
                    impl_->size, ")");
  // A lone send to oneself never completes (NCCL needs the matching recv in the same group call).
  ICCRT_CHECK_VALUE(peer != impl_->rank, description, ": cannot send to itself (rank ", peer, ")");
  check_device(device, description);
  if (count == 0) return completed_work(std::move(description));
  check_buffer(buf, count, "the buffer", description);
  return impl_->launch(kAutoComm, device, description,
                       [&](ncclComm_t c, cudaStream_t s) { return ncclSend(buf, count, t, peer, c, s); });
}

WorkPtr NcclBackend::recv(void* buf, size_t count, DType dtype, int peer, int device, std::string description) {
  const ncclDataType_t t = detail::nccl_dtype(dtype, description.c_str());
  ICCRT_CHECK_VALUE(peer >= 0 && peer < impl_->size, description, ": peer ", peer, " is not a rank of the group (size ",
                    impl_->size, ")");
  ICCRT_CHECK_VALUE(peer != impl_->rank, description, ": cannot receive from itself (rank ", peer, ")");
  check_device(device, description);
  if (count == 0) return completed_work(std::move(description));
  check_buffer(buf, count, "the buffer", description);
  return impl_->launch(kAutoComm, device, description,
                       [&](ncclComm_t c, cudaStream_t s) { return ncclRecv(buf, count, t, peer, c, s); });
}

std::string NcclBackend::version() {
  int code = 0;
  const ncclResult_t r = ncclGetVersion(&code);
  ICCRT_CHECK(r == ncclSuccess, "ncclGetVersion failed: ", ncclGetErrorString(r));
  return detail::nccl_version_string(code);
}

}  // namespace iccrt::comm
