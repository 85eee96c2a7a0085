#pragma once
// ProcessGroup's private state, shared by process_group.cpp (API, queue, worker), group_setup.cpp (creation:
// topology, shared memory, MPI), collectives.cpp (algorithm choice and dispatch) and process_group_tensor.cpp.
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "iccrt/comm/process_group.hpp"
#include "src/comm/bootstrap/bootstrap.hpp"
#include "src/comm/flight_recorder.hpp"
#include "src/comm/router.hpp"
#include "src/comm/transports/mpi/mpi_transport.hpp"
#include "src/comm/transports/shm/shm_direct.hpp"
#include "src/comm/transports/shm/shm_transport.hpp"

#ifdef ICCRT_HAVE_CUDA
#include "src/comm/backends/nccl/nccl_backend.hpp"
#endif

namespace iccrt::comm {

// One queued op, as the worker runs it.
struct Task {
  uint64_t seq = 0;  // collective sequence number (0 for point-to-point)
  OpType op = OpType::Barrier;
  OpInfo info;            // what it is (for messages, the flight recorder and ICCRT_DEBUG)
  bool blocking = false;  // CollectiveOptions::blocking: the caller waits at once; no need to wake the worker
  uint64_t recorder_id = 0;
  uint32_t tag = 0;  // wire tag of point-to-point ops (collectives derive theirs from seq)
  std::function<void(const WaitContext&, uint32_t tag)> run;  // collectives: runs to completion
  std::function<RequestPtr(uint32_t tag)> post;               // send / recv: posts, completes in the background
  std::function<void()> after;                                // tensor copy-back, run only on success
  std::shared_ptr<Work> work;
  std::vector<Tensor> keep_alive;  // tensors whose memory the op uses
};

struct ProcessGroup::Impl {
  // ---- identity ----
  int rank = 0;
  int size = 1;
  std::string name;
  ProcessGroupOptions opts;
  std::vector<int> world_ranks;
  std::string uid;  // unique per group and job; names shared-memory segments
  int child_counter = 0;

  // ---- topology (indexed by group rank) ----
  std::vector<std::string> machine_of;  // real machine identity
  std::vector<std::string> host_of;     // topology host (ProcessGroupOptions::host_id or the machine)
  std::vector<int64_t> pid_of;
  std::vector<int> local_index;    // index among the ranks of the same machine
  std::vector<int> machine_ranks;  // group ranks on this machine, ascending
  std::vector<int> host_ranks;     // group ranks on this topology host, ascending
  std::vector<int> cross_ranks;    // one rank per host: the ones with our index within their host
  bool hosts_uniform = false;      // every host has the same number of ranks
  int num_hosts = 1;

  // ---- transports ----
  shm::Segment segment;
  std::unique_ptr<shm::ShmTransport> shm;
  std::unique_ptr<mpi::Comm> mpi_comm;
  std::unique_ptr<Transport> mpi;
  std::unique_ptr<Router> router;
  std::unique_ptr<shm::DirectArena> direct;      // the whole group, when it is on one machine and one host
  std::unique_ptr<shm::DirectArena> host_arena;  // this host's ranks (hierarchical intra-host phases)
  std::unique_ptr<SubTransport> host_p2p, cross_p2p;
  std::shared_ptr<Store> store;  // kept alive for groups made from a store
#ifdef ICCRT_HAVE_CUDA
  std::unique_ptr<NcclBackend> nccl;
#endif

  // ---- queue ----
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Task> queue;
  bool stopping = false;
  bool shut_down = false;
  std::thread worker;
  // Note [Running a waited op inline]: `running` is held by whoever drives this group's transports (the worker,
  // or a thread that called Work::wait() on the op at the head of the queue); transports are never used by two
  // threads at once. Posted point-to-point requests wait in `pending` (touched only while holding `running`).
  bool running = false;
  struct Pending {
    RequestPtr req;
    Task task;
    WaitContext wait;
  };
  std::vector<Pending> pending;
  size_t npending = 0;  // pending.size(), readable under mu
  uint64_t next_seq = 0;
  uint64_t current_seq = 0;  // seq of the op the worker runs (0 between ops)
  std::exception_ptr fatal;  // first failure: the group is unusable after it
  std::string fatal_text;
  FlightRecorder recorder;

  Impl();
  ~Impl();

  // group_setup.cpp: fills topology and transports. Collective over `bs` (the ranks of this group).
  void setup(Bootstrap& bs);
  shm::BoardEntry* board(int group_rank) const;  // null when the rank is on another machine

  // process_group.cpp
  WorkPtr enqueue(Task t);
  std::string op_text(const OpInfo& info) const;  // "rank 1: all_reduce ... on group 'world' seq 7"
  void worker_loop();
  void run_task(Task& t);
  bool progress_pending();  // one pass over `pending`; true if any completed
  bool run_inline(const Work* w);
  WaitContext wait_context(const Task& t) const;
  std::string missing_ranks(uint64_t seq) const;
  void check_peers(uint64_t seq) const;
  void stop_worker();

  // process_group.cpp: validated, ready-to-queue tasks for each op (the Tensor API adds copy-backs to them).
  Task task_all_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, CollectiveOptions o);
  Task task_reduce_scatter(const void* in, void* out, size_t count, DType dtype, ReduceOp op, CollectiveOptions o);
  Task task_all_gather(const void* in, void* out, size_t count, DType dtype, CollectiveOptions o);
  Task task_broadcast(void* buf, size_t count, DType dtype, int root, CollectiveOptions o);
  Task task_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int root, CollectiveOptions o);
  Task task_all_to_all(const void* in, void* out, size_t count, DType dtype, CollectiveOptions o);
  Task task_barrier();
  Task new_task(OpType op, bool blocking, Algorithm algo, size_t count, DType dtype, int reduce_op = -1,
                int root = -1) const;
  Task task_p2p(OpType op, size_t count, DType dtype, int peer, int tag) const;
  void check_root(const char* op, int root) const;
  Task task_send(const void* buf, size_t count, DType dtype, int dst, int tag);
  Task task_recv(void* buf, size_t count, DType dtype, int src, int tag);

  // collectives.cpp: the bodies run by the worker.
  Algorithm choose_all_reduce(size_t bytes, Algorithm requested) const;
  Algorithm choose_other(OpType op, Algorithm requested) const;  // the rest; ValueError when unsupported
  void run_all_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, Algorithm algo,
                      const WaitContext& w, uint32_t tag);
  void run_reduce_scatter(const void* in, void* out, size_t count, DType dtype, ReduceOp op, Algorithm algo,
                          const WaitContext& w, uint32_t tag);
  void run_all_gather(const void* in, void* out, size_t count, DType dtype, Algorithm algo, const WaitContext& w,
                      uint32_t tag);
  void run_broadcast(void* buf, size_t bytes, int root, Algorithm algo, const WaitContext& w, uint32_t tag);
  void run_reduce(const void* in, void* out, size_t count, DType dtype, ReduceOp op, int root, Algorithm algo,
                  const WaitContext& w, uint32_t tag);
  void run_all_to_all(const void* in, void* out, size_t bytes_per_rank, const WaitContext& w, uint32_t tag);
  void run_barrier(const WaitContext& w, uint32_t tag);
  void debug_check(const Task& t, const WaitContext& w);
};

std::string op_text_of(int rank, const std::string& name, const OpInfo& info);

// Wire tags: collectives use their sequence number, point-to-point ops the user's tag in a separate range.
inline uint32_t collective_tag(uint64_t seq) { return 0x40000000u | static_cast<uint32_t>(seq & 0x3fffffffu); }
inline uint32_t p2p_tag(int tag) { return static_cast<uint32_t>(tag) & 0x3fffffffu; }

}  // namespace iccrt::comm
