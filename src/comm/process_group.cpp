// ProcessGroup: creation, the op queue and its worker thread, and the raw-buffer API.
//
// Note [One worker per group]: every op of a group runs on that group's worker thread, in issue order. That
// gives asynchronous ops (Work) for free, keeps each transport single-threaded (no locks on the fast path),
// and lets two groups run collectives concurrently. A failure poisons the group: after a timeout or a dead
// peer its channels may hold half a message, so later ops fail at once with the first error.
#include "iccrt/comm/process_group.hpp"

#include <sched.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <optional>

#include "kernels/cpu/comm_reduce.hpp"
#include "src/comm/bootstrap/env.hpp"
#include "src/comm/group_impl.hpp"
#include "src/comm/tunables.hpp"

namespace iccrt::comm {

namespace {

bool is_collective(OpType op) { return op != OpType::Send && op != OpType::Recv; }

// Bootstrap for a child group over its parent: three fixed rounds of all_gather on the parent (every parent rank
// takes part, members of other children and non-members alike), returning only the members' contributions.
class ParentBootstrap final : public Bootstrap {
 public:
  ParentBootstrap(ProcessGroup& parent, std::vector<int> members, int me)
      : parent_(parent), members_(std::move(members)), me_(me) {}
  int rank() const override { return me_; }
  int size() const override { return static_cast<int>(members_.size()); }
  std::vector<std::string> allgather(const std::string& mine) override {
    const auto all = parent_allgather(parent_, mine);
    std::vector<std::string> out;
    for (int r : members_) out.push_back(all[r]);
    return out;
  }
  static std::vector<std::string> parent_allgather(ProcessGroup& pg, const std::string& mine) {
    const int n = pg.size();
    int64_t len = static_cast<int64_t>(mine.size());
    std::vector<int64_t> lens(n);
    pg.all_gather(&len, lens.data(), 1, DType::Int64)->wait();
    int64_t maxlen = 1;
    for (int64_t l : lens) maxlen = std::max(maxlen, l);
    std::string padded = mine;
    padded.resize(static_cast<size_t>(maxlen));
    std::string all(static_cast<size_t>(maxlen * n), '\0');
    pg.all_gather(padded.data(), all.data(), static_cast<size_t>(maxlen), DType::UInt8)->wait();
    std::vector<std::string> out(n);
    for (int r = 0; r < n; ++r) out[r] = all.substr(static_cast<size_t>(r * maxlen), static_cast<size_t>(lens[r]));
    return out;
  }

 private:
  ProcessGroup& parent_;
  std::vector<int> members_;
  int me_;
};

constexpr int kSetupRounds = 3;  // Impl::setup: info, created, opened

std::shared_ptr<ProcessGroup> start(std::unique_ptr<ProcessGroup::Impl> impl, Bootstrap& bs) {
  impl->setup(bs);
  ProcessGroup::Impl* p = impl.get();
  p->worker = std::thread([p] { p->worker_loop(); });
  return std::make_shared<ProcessGroup>(std::move(impl));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Creation

ProcessGroup::ProcessGroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProcessGroup::~ProcessGroup() {
  try {
    shutdown();
  } catch (...) {
  }
}

ProcessGroup::Impl::~Impl() { stop_worker(); }

std::shared_ptr<ProcessGroup> ProcessGroup::create(int rank, int size, std::shared_ptr<Store> store,
                                                   ProcessGroupOptions opts) {
  ICCRT_CHECK_VALUE(size >= 1, "ProcessGroup::create: size must be >= 1, got ", size);
  ICCRT_CHECK_VALUE(rank >= 0 && rank < size, "ProcessGroup::create: rank ", rank, " out of range for size ", size);
  ICCRT_CHECK_VALUE(store != nullptr, "ProcessGroup::create: store is null");
  ICCRT_CHECK_VALUE(opts.timeout.count() > 0, "ProcessGroup::create: timeout must be positive");
  auto impl = std::make_unique<Impl>();
  impl->rank = rank;
  impl->size = size;
  impl->name = opts.name.empty() ? "world" : opts.name;
  impl->opts = opts;
  for (int r = 0; r < size; ++r) impl->world_ranks.push_back(r);
  impl->store = store;
  store->set_timeout(opts.timeout);
  auto bs = make_store_bootstrap(store, rank, size, "iccrt/" + impl->name);
  return start(std::move(impl), *bs);
}

std::shared_ptr<ProcessGroup> ProcessGroup::from_environment(ProcessGroupOptions opts) {
  // An application that already initialised MPI (even as a singleton, without mpirun) gets the MPI world.
  const bool mpi_running = mpi::available() && mpi::initialized();
  const LaunchInfo li = mpi_running ? LaunchInfo{LaunchInfo::Method::Mpi} : detect_launch();
  if (li.method == LaunchInfo::Method::Mpi && (mpi::available() || li.master_addr.empty())) {
    // Under mpirun the MPI library is the rendezvous; without MPI support mpi::world() explains what to do.
    auto comm = mpi::world();
    auto impl = std::make_unique<Impl>();
    impl->rank = comm->rank();
    impl->size = comm->size();
    impl->name = opts.name.empty() ? "world" : opts.name;
    impl->opts = opts;
    for (int r = 0; r < impl->size; ++r) impl->world_ranks.push_back(r);
    auto bs = comm->make_bootstrap(opts.timeout);
    impl->mpi_comm = std::move(comm);
    return start(std::move(impl), *bs);
  }
  if (li.method == LaunchInfo::Method::Single) return create(0, 1, std::make_shared<HashStore>(), opts);
  TcpStore::Options so;
  so.host = li.master_addr;
  so.port = li.master_port;
  so.is_server = li.rank == 0;
  so.token = li.token;
  so.timeout = opts.timeout;
  auto store = std::make_shared<TcpStore>(so);
  return create(li.rank, li.size, store, opts);
}

std::shared_ptr<ProcessGroup> ProcessGroup::split(int color, int key, ProcessGroupOptions opts) {
  Impl& p = *impl_;
  const int n = p.size;
  int64_t mine[2] = {color, key};
  std::vector<int64_t> all(2 * static_cast<size_t>(n));
  all_gather(mine, all.data(), 2, DType::Int64)->wait();
  std::vector<int> members;
  for (int r = 0; r < n; ++r) {
    if (color >= 0 && all[2 * r] == color) members.push_back(r);
  }
  std::stable_sort(members.begin(), members.end(), [&](int a, int b) { return all[2 * a + 1] < all[2 * b + 1]; });
  const int child_id = p.child_counter++;
  // MPI communicators split collectively over the parent, members and non-members alike.
  std::unique_ptr<mpi::Comm> child_mpi;
  if (p.mpi_comm) {
    const int pos =
        color < 0 ? 0 : static_cast<int>(std::find(members.begin(), members.end(), p.rank) - members.begin());
    child_mpi = p.mpi_comm->split(color, pos, WaitContext::with_timeout(p.opts.timeout, "MPI_Comm_split"));
  }
  if (color < 0) {
    // Not a member: take part in the parent-level rounds of the children's setup.
    for (int i = 0; i < kSetupRounds; ++i) ParentBootstrap::parent_allgather(*this, std::string());
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  const int me = static_cast<int>(std::find(members.begin(), members.end(), p.rank) - members.begin());
  impl->rank = me;
  impl->size = static_cast<int>(members.size());
  impl->name = opts.name.empty() ? p.name + "/" + std::to_string(child_id) + "." + std::to_string(color) : opts.name;
  if (opts.host_id.empty()) opts.host_id = p.opts.host_id;
  if (opts.transport == "auto") opts.transport = p.opts.transport;
  impl->opts = opts;
  for (int r : members) impl->world_ranks.push_back(p.world_ranks[r]);
  impl->mpi_comm = std::move(child_mpi);
  ParentBootstrap bs(*this, members, me);
  return start(std::move(impl), bs);
}

std::shared_ptr<ProcessGroup> ProcessGroup::new_group(const std::vector<int>& ranks, ProcessGroupOptions opts) {
  std::vector<bool> seen(impl_->size, false);
  int key = -1;
  for (size_t i = 0; i < ranks.size(); ++i) {
    const int r = ranks[i];
    ICCRT_CHECK_VALUE(r >= 0 && r < impl_->size, "new_group: rank ", r, " out of range for group '", impl_->name,
                      "' of size ", impl_->size);
    ICCRT_CHECK_VALUE(!seen[r], "new_group: rank ", r, " listed twice");
    seen[r] = true;
    if (r == impl_->rank) key = static_cast<int>(i);
  }
  ICCRT_CHECK_VALUE(!ranks.empty(), "new_group: empty rank list");
  // Every rank passes the same list; split with one color keeps the list's order through the key.
  return split(key >= 0 ? 0 : -1, key, std::move(opts));
}

int ProcessGroup::rank() const { return impl_->rank; }
int ProcessGroup::size() const { return impl_->size; }
const std::string& ProcessGroup::name() const { return impl_->name; }
std::chrono::milliseconds ProcessGroup::timeout() const { return impl_->opts.timeout; }
const std::vector<int>& ProcessGroup::world_ranks() const { return impl_->world_ranks; }

std::string ProcessGroup::flight_record() const {
  return impl_->recorder.dump(detail::str("flight recorder of group '", impl_->name, "', rank ", impl_->rank));
}

Algorithm ProcessGroup::tuned_all_reduce_algorithm(size_t bytes) const {
  return impl_->choose_all_reduce(bytes, Algorithm::Auto);
}

void ProcessGroup::shutdown() {
  Impl& p = *impl_;
  p.stop_worker();
  if (p.segment.valid()) {
    shm::BoardEntry& b = p.segment.board(p.local_index[p.rank]);
    b.left.store(1, std::memory_order_release);
  }
}

void ProcessGroup::Impl::stop_worker() {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (shut_down) return;
    shut_down = true;
    stopping = true;
  }
  cv.notify_all();
  if (worker.joinable()) worker.join();
}

// ---------------------------------------------------------------------------------------------------------------
// Queue and worker

std::string ProcessGroup::Impl::op_text(const OpInfo& info) const { return op_text_of(rank, name, info); }

std::string op_text_of(int rank, const std::string& name, const OpInfo& info) {
  return detail::str("rank ", rank, ": ", describe(info), " on group '", name, "'",
                     info.seq ? " seq " + std::to_string(info.seq) : std::string());
}

WorkPtr ProcessGroup::Impl::enqueue(Task t) {
  std::unique_lock<std::mutex> lock(mu);
  ICCRT_CHECK(!shut_down, "group '", name, "' was shut down; ", describe(t.info), " cannot run on it");
  if (is_collective(t.info.op)) t.info.seq = ++next_seq;
  // The Work may outlive the group: its description holds copies, not the group.
  t.work = std::make_shared<Work>(
      std::function<std::string()>([r = rank, n = name, info = t.info] { return op_text_of(r, n, info); }));
  t.recorder_id = recorder.record(t.info);
  WorkPtr w = t.work;
  if (t.blocking && queue.empty() && !running && npending == 0) {
    // Note [Running a waited op inline], fast path: the group is idle and the caller waits at once, so the op
    // runs right here, without a trip through the queue.
    running = true;
    lock.unlock();
    run_task(t);
    lock.lock();
    running = false;
    npending = pending.size();
    const bool wake = !queue.empty() || npending > 0 || stopping;
    lock.unlock();
    if (wake) cv.notify_all();
    return w;
  }
  t.work->set_inline_runner([this, raw = t.work.get()] { return run_inline(raw); });
  // Wake the worker unless the caller is about to run the op itself (and the worker has nothing else to do).
  const bool wake = !t.blocking || !queue.empty() || running || npending > 0;
  queue.push_back(std::move(t));
  lock.unlock();
  if (wake) cv.notify_one();
  return w;
}

void ProcessGroup::Impl::worker_loop() {
  uint32_t idle_polls = 0;
  for (;;) {
    std::optional<Task> t;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return !running && (!queue.empty() || npending > 0 || stopping); });
      if (stopping && queue.empty() && npending == 0) return;  // everything queued has run
      running = true;
      if (!queue.empty()) {
        t = std::move(queue.front());
        queue.pop_front();
      }
    }
    if (t) run_task(*t);
    const bool progressed = progress_pending();
    {
      std::lock_guard<std::mutex> lock(mu);
      running = false;
      npending = pending.size();
    }
    cv.notify_all();
    // Only posted point-to-point requests left: poll them without hogging the core.
    if (!t && !progressed) {
      if (++idle_polls < 64) {
        sched_yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    } else {
      idle_polls = 0;
    }
  }
}

bool ProcessGroup::Impl::progress_pending() {
  bool any = false;
  for (size_t i = 0; i < pending.size();) {
    Pending& p = pending[i];
    try {
      if (!p.req->test()) {
        if (std::chrono::steady_clock::now() >= p.wait.deadline) p.wait.raise_timeout(p.req->describe());
        ++i;
        continue;
      }
      recorder.finished(p.task.recorder_id);
      p.task.work->mark_done();
    } catch (const std::exception& e) {
      fatal = std::current_exception();
      fatal_text = e.what();
      if (segment.valid()) segment.board(local_index[rank]).failed.store(1, std::memory_order_release);
      recorder.finished(p.task.recorder_id, e.what());
      p.task.work->mark_done(std::current_exception());
    }
    if (p.task.after && !p.task.work->exception()) p.task.after();
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
    any = true;
  }
  return any;
}

bool ProcessGroup::Impl::run_inline(const Work* w) {
  std::unique_lock<std::mutex> lock(mu);
  if (running || npending > 0 || queue.empty() || queue.front().work.get() != w) return false;
  Task t = std::move(queue.front());
  queue.pop_front();
  running = true;
  lock.unlock();
  run_task(t);
  lock.lock();
  running = false;
  npending = pending.size();
  // Wake the worker only if there is something for it: waking an idle thread per op costs more than the op.
  const bool wake = !queue.empty() || npending > 0 || stopping;
  lock.unlock();
  if (wake) cv.notify_all();
  return true;
}

WaitContext ProcessGroup::Impl::wait_context(const Task& t) const {
  WaitContext w;
  w.deadline = std::chrono::steady_clock::now() + opts.timeout;
  // Pointers, not copies: the context lives only while the task runs (and small captures need no allocation).
  w.describe = [this, info = &t.info] { return op_text(*info); };
  const uint64_t seq = t.info.seq;
  if (seq) w.missing = [this, seq] { return missing_ranks(seq); };
  w.check_peers = [this, seq] { check_peers(seq ? seq : next_seq); };
  return w;
}

void ProcessGroup::Impl::run_task(Task& t) {
  shm::BoardEntry* me = segment.valid() ? &segment.board(local_index[rank]) : nullptr;
  if (fatal) {
    const std::string msg = detail::str("group '", name, "' is unusable after an earlier failure (", fatal_text, "); ",
                                        describe(t.info), " was not run");
    recorder.finished(t.recorder_id, "not run: group failed earlier");
    t.work->mark_done(std::make_exception_ptr(CommError(msg)));
    return;
  }
  if (me && t.info.seq) me->seq_entered.store(t.info.seq, std::memory_order_release);
  recorder.started(t.recorder_id);
  try {
    const WaitContext w = wait_context(t);
    if (t.post) {
      // Point-to-point: post now, complete in the background (progress_pending), so that a send and the
      // receive queued after it are in flight together, as with MPI_Isend / MPI_Irecv.
      RequestPtr req = t.post(t.tag);
      pending.push_back(Pending{std::move(req), std::move(t), w});
      return;
    }
    if (opts.debug && t.info.seq) debug_check(t, w);
    t.run(w, t.info.seq ? collective_tag(t.info.seq) : t.tag);
    if (t.after) t.after();
    if (me && t.info.seq) me->seq_done.store(t.info.seq, std::memory_order_release);
    recorder.finished(t.recorder_id);
    t.work->mark_done();
  } catch (const std::exception& e) {
    fatal = std::current_exception();
    fatal_text = e.what();
    if (me) me->failed.store(1, std::memory_order_release);
    recorder.finished(t.recorder_id, e.what());
    if (dynamic_cast<const CommTimeout*>(&e)) {
      std::cerr << "[iccrt] " << e.what() << "\n"
                << recorder.dump(detail::str("flight recorder of group '", name, "', rank ", rank)) << std::flush;
    }
    t.work->mark_done(std::current_exception());
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Raw-buffer API: validate in the caller's thread (so bad arguments raise at the call), run on the worker.

namespace {

void check_buffers(const char* op, const void* in, const void* out, size_t count) {
  ICCRT_CHECK_VALUE(count == 0 || (in && out), op, ": null buffer with count ", count);
}

}  // namespace

// The fields every task shares; `count` / `dtype` / `reduce_op` / `root` stay -1 / unset where an op has none.
Task ProcessGroup::Impl::new_task(OpType op, bool blocking, Algorithm algo, size_t count, DType dtype, int reduce_op,
                                  int root) const {
  Task t;
  t.info.op = op;
  t.info.count = count;
  t.info.dtype = static_cast<int>(dtype);
  t.info.algo = static_cast<int>(algo);
  t.info.reduce_op = reduce_op;
  t.info.root = root;
  t.blocking = blocking;
  return t;
}

void ProcessGroup::Impl::check_root(const char* op, int root) const {
  ICCRT_CHECK_VALUE(root >= 0 && root < size, op, ": root ", root, " out of range for group '", name, "' of size ",
                    size);
}

Task ProcessGroup::Impl::task_all_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op,
                                         CollectiveOptions o) {
  check_buffers("all_reduce", in, out, count);
  kernels::cpu::comm_check_reducible(dtype, op);
  const Algorithm algo = choose_all_reduce(count * itemsize(dtype), o.algorithm);
  Task t = new_task(OpType::AllReduce, o.blocking, algo, count, dtype, static_cast<int>(op));
  t.run = [this, in, out, count, dtype, op, algo](const WaitContext& w, uint32_t tag) {
    run_all_reduce(in, out, count, dtype, op, algo, w, tag);
  };
  return t;
}

Task ProcessGroup::Impl::task_reduce_scatter(const void* in, void* out, size_t count, DType dtype, ReduceOp op,
                                             CollectiveOptions o) {
  check_buffers("reduce_scatter", in, out, count);
  kernels::cpu::comm_check_reducible(dtype, op);
  const Algorithm algo = choose_other(OpType::ReduceScatter, o.algorithm);
  Task t = new_task(OpType::ReduceScatter, o.blocking, algo, count, dtype, static_cast<int>(op));
  t.run = [this, in, out, count, dtype, op, algo](const WaitContext& w, uint32_t tag) {
    run_reduce_scatter(in, out, count, dtype, op, algo, w, tag);
  };
  return t;
}

Task ProcessGroup::Impl::task_all_gather(const void* in, void* out, size_t count, DType dtype, CollectiveOptions o) {
  check_buffers("all_gather", in, out, count);
  const Algorithm algo = choose_other(OpType::AllGather, o.algorithm);
  Task t = new_task(OpType::AllGather, o.blocking, algo, count, dtype);
  t.run = [this, in, out, count, dtype, algo](const WaitContext& w, uint32_t tag) {
    run_all_gather(in, out, count, dtype, algo, w, tag);
  };
  return t;
}

Task ProcessGroup::Impl::task_broadcast(void* buf, size_t count, DType dtype, int root, CollectiveOptions o) {
  check_buffers("broadcast", buf, buf, count);
  check_root("broadcast", root);
  const Algorithm algo = choose_other(OpType::Broadcast, o.algorithm);
  Task t = new_task(OpType::Broadcast, o.blocking, algo, count, dtype, -1, root);
  const size_t bytes = count * static_cast<size_t>(itemsize(dtype));
  t.run = [this, buf, bytes, root, algo](const WaitContext& w, uint32_t tag) {
    run_broadcast(buf, bytes, root, algo, w, tag);
  };
  return t;
}

Task ProcessGroup::Impl::task_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int root,
                                     CollectiveOptions o) {
  check_root("reduce", root);
  check_buffers("reduce", in, rank == root ? out : in, count);
  kernels::cpu::comm_check_reducible(dtype, op);
  const Algorithm algo = choose_other(OpType::Reduce, o.algorithm);
  Task t = new_task(OpType::Reduce, o.blocking, algo, count, dtype, static_cast<int>(op), root);
  t.run = [this, in, out, count, dtype, op, root, algo](const WaitContext& w, uint32_t tag) {
    run_reduce(in, out, count, dtype, op, root, algo, w, tag);
  };
  return t;
}

Task ProcessGroup::Impl::task_all_to_all(const void* in, void* out, size_t count, DType dtype, CollectiveOptions o) {
  check_buffers("all_to_all", in, out, count);
  const Algorithm algo = choose_other(OpType::AllToAll, o.algorithm);
  Task t = new_task(OpType::AllToAll, o.blocking, algo, count, dtype);
  const size_t bytes = count * static_cast<size_t>(itemsize(dtype));
  t.run = [this, in, out, bytes](const WaitContext& w, uint32_t tag) { run_all_to_all(in, out, bytes, w, tag); };
  return t;
}

Task ProcessGroup::Impl::task_barrier() {
  Task t;
  t.info.op = OpType::Barrier;
  t.info.algo = static_cast<int>(choose_other(OpType::Barrier, Algorithm::Auto));
  t.run = [this](const WaitContext& w, uint32_t tag) { run_barrier(w, tag); };
  return t;
}

// send / recv: the same checks and record; `post` starts the transfer (it completes in the background).
Task ProcessGroup::Impl::task_p2p(OpType op, size_t count, DType dtype, int peer, int tag) const {
  const char* what = op == OpType::Send ? "send" : "recv";
  ICCRT_CHECK_VALUE(peer >= 0 && peer < size, what, ": peer ", peer, " out of range for group '", name, "' of size ",
                    size);
  ICCRT_CHECK_VALUE(peer != rank, what, ": rank ", rank, " cannot ", what, " to itself");
  ICCRT_CHECK_VALUE(tag >= 0 && tag < (1 << 30), what, ": tag must be in [0, 2^30), got ", tag);
  Task t;
  t.info.op = op;
  t.info.count = count;
  t.info.dtype = static_cast<int>(dtype);
  t.info.peer = peer;
  t.info.tag = tag;
  t.tag = p2p_tag(tag);
  return t;
}

Task ProcessGroup::Impl::task_send(const void* buf, size_t count, DType dtype, int dst, int tag) {
  check_buffers("send", buf, buf, count);
  Task t = task_p2p(OpType::Send, count, dtype, dst, tag);
  const size_t bytes = count * static_cast<size_t>(itemsize(dtype));
  t.post = [this, buf, bytes, dst](uint32_t wire) { return router->isend(dst, buf, bytes, wire); };
  return t;
}

Task ProcessGroup::Impl::task_recv(void* buf, size_t count, DType dtype, int src, int tag) {
  check_buffers("recv", buf, buf, count);
  Task t = task_p2p(OpType::Recv, count, dtype, src, tag);
  const size_t bytes = count * static_cast<size_t>(itemsize(dtype));
  t.post = [this, buf, bytes, src](uint32_t wire) { return router->irecv(src, buf, bytes, wire); };
  return t;
}

WorkPtr ProcessGroup::all_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op,
                                 CollectiveOptions o) {
  return impl_->enqueue(impl_->task_all_reduce(in, out, count, dtype, op, o));
}

WorkPtr ProcessGroup::reduce_scatter(const void* in, void* out, size_t count, DType dtype, ReduceOp op,
                                     CollectiveOptions o) {
  return impl_->enqueue(impl_->task_reduce_scatter(in, out, count, dtype, op, o));
}

WorkPtr ProcessGroup::all_gather(const void* in, void* out, size_t count, DType dtype, CollectiveOptions o) {
  return impl_->enqueue(impl_->task_all_gather(in, out, count, dtype, o));
}

WorkPtr ProcessGroup::broadcast(void* buf, size_t count, DType dtype, int root, CollectiveOptions o) {
  return impl_->enqueue(impl_->task_broadcast(buf, count, dtype, root, o));
}

WorkPtr ProcessGroup::reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int root,
                             CollectiveOptions o) {
  return impl_->enqueue(impl_->task_reduce(in, out, count, dtype, op, root, o));
}

WorkPtr ProcessGroup::all_to_all(const void* in, void* out, size_t count, DType dtype, CollectiveOptions o) {
  return impl_->enqueue(impl_->task_all_to_all(in, out, count, dtype, o));
}

WorkPtr ProcessGroup::barrier() { return impl_->enqueue(impl_->task_barrier()); }

WorkPtr ProcessGroup::send(const void* buf, size_t count, DType dtype, int dst, int tag) {
  return impl_->enqueue(impl_->task_send(buf, count, dtype, dst, tag));
}

WorkPtr ProcessGroup::recv(void* buf, size_t count, DType dtype, int src, int tag) {
  return impl_->enqueue(impl_->task_recv(buf, count, dtype, src, tag));
}

}  // namespace iccrt::comm
