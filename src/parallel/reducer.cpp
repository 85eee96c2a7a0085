// The gradient reducer of data parallel training.
//
// Note [Bucketed gradient reduction]: one backward pass on one rank goes like this.
//  1. The first grad-ready hook of the pass opens it: it queues finalize() with autograd::queue_callback (so it
//     runs when the engine has finished every node) and marks ready the parameters already known to get no
//     gradient (prepare_for_backward's graph walk, or static_graph's first step).
//  2. Each hook copies the parameter's gradient into its slot of the bucket buffer (nothing to copy when .grad
//     already is that slot: gradient_as_bucket_view) and counts the bucket down. A bucket at zero is launched
//     if every bucket before it has been: launches happen strictly in bucket order, so all ranks issue the
//     same collectives in the same order on the group even when their gradients become ready in another order.
//  3. finalize() fills in parameters that got no gradient (zeros, with find_unused_parameters; a ValueError
//     naming them otherwise), launches what is left, all-reduces the used-parameter map (Max) when unused
//     parameters are tracked, waits, decompresses, and leaves the average in .grad: the bucket view itself
//     (gradient_as_bucket_view) or a copy. Parameters no rank used keep their .grad.
// A pass that fails midway (an error in a hook or in the engine) drops its queued finalize(). The pass token
// captured by that callback then expires, which is how the next pass finds out (Note [Abandoned passes]).
//
// Note [Abandoned passes]: state left by a pass that never finalized (buckets half ready, all-reduces in flight)
// cannot be continued: the next grad-ready hook waits for what was launched, resets, and raises ValueError. Errors
// raised by the reducer itself (missing gradients, collective failures) reset the same way before they
// propagate, so the step after an error starts clean.
#include "iccrt/parallel/reducer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "iccrt/autograd/engine.hpp"
#include "iccrt/autograd/grad_mode.hpp"
#include "iccrt/autograd/node.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/ops/elementwise.hpp"

namespace iccrt::parallel {

using Clock = std::chrono::steady_clock;

const char* to_string(CommHook hook) {
  switch (hook) {
    case CommHook::AllReduce:
      return "allreduce";
    case CommHook::BF16Compress:
      return "bf16_compress";
    case CommHook::FP16Compress:
      return "fp16_compress";
  }
  return "?";
}

CommHook parse_comm_hook(const std::string& name) {
  for (CommHook h : {CommHook::AllReduce, CommHook::BF16Compress, CommHook::FP16Compress})
    if (name == to_string(h)) return h;
  ICCRT_CHECK_VALUE(false, "unknown communication hook '", name,
                    "' (expected allreduce, bf16_compress or fp16_compress)");
  return CommHook::AllReduce;
}

namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Note [Completion times]: a Work has no completion callback, so a helper thread waits on each launched
// all-reduce in launch order and stamps the time its wait returned. That is the overlap evidence: the backward
// thread itself only looks at the works once the pass has ended.
class CompletionWatcher {
 public:
  ~CompletionWatcher() { stop(); }

  void push(size_t bucket, comm::WorkPtr work) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
      if (done_.size() <= bucket) done_.resize(bucket + 1);
      queue_.emplace_back(bucket, std::move(work));
      ++pushed_;
    }
    cv_.notify_all();
  }
  // Blocks until every pushed work has been seen complete; its stamps, by bucket.
  std::vector<Clock::time_point> wait_all() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return recorded_ == pushed_; });
    return done_;
  }
  // Only once wait_all() returned.
  void reset() {
    std::lock_guard<std::mutex> lock(mu_);
    pushed_ = recorded_ = 0;
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, nothing left to watch
      auto [bucket, work] = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      try {
        work->wait();  // bounded by the group's timeout; the error itself is reported by the reducer's own wait
      } catch (...) {
      }
      const Clock::time_point t = Clock::now();
      work.reset();
      lock.lock();
      done_[bucket] = t;
      ++recorded_;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<size_t, comm::WorkPtr>> queue_;
  std::vector<Clock::time_point> done_;
  size_t pushed_ = 0, recorded_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

struct Reducer::Impl {
  struct Entry {
    Tensor param;  // a handle sharing the parameter's autograd state
    int64_t index = 0;
    std::string name;
    int64_t bucket = -1;
    Tensor slot;  // view of the bucket buffer shaped like the parameter
    int64_t hook = -1;
  };
  struct Bucket {
    std::vector<int64_t> entries;
    DType dtype = DType::Float32;
    Device device;
    int64_t numel = 0;
    Tensor buffer;
    Tensor wire;  // the compressed copy sent by a compression hook (undefined otherwise)
    int64_t pending = 0;
    comm::WorkPtr work;
    Clock::time_point launch;
  };

  std::weak_ptr<Impl> self;
  std::shared_ptr<comm::ProcessGroup> pg;
  ReducerOptions opts;
  int world = 1;
  std::vector<Entry> entries;
  std::vector<int64_t> entry_of;  // constructor index -> entry, -1 for skipped parameters
  std::vector<Bucket> buckets;

  std::atomic<bool> sync{true};  // read by the hooks; set from any thread without waiting for a running pass
  mutable std::mutex mu;         // the pass state below; hooks, finalize and the API calls
  bool pass_active = false;
  uint64_t pass_id = 0;
  std::thread::id pass_thread;
  std::weak_ptr<void> pass_token;  // alive while the pass's finalize() is still queued
  Clock::time_point t0;
  Clock::time_point forward_end;  // the last prepare_for_backward
  bool forward_end_valid = false;
  double first_grad_after_forward = -1;  // of the running pass
  std::vector<uint8_t> ready, got_grad, used_since_sync;
  std::vector<int64_t> unreachable;  // from prepare_for_backward, for the next pass
  size_t next_launch = 0;
  int64_t steps = 0;
  bool static_known = false;
  std::vector<uint8_t> static_unused, static_global_used;
  Tensor used_map;
  comm::WorkPtr used_work;
  CompletionWatcher watcher;

  mutable std::mutex stats_mu;
  StepStats last;

  // ---- setup ----
  void init(std::vector<Tensor> params, std::vector<std::string> names);
  void assign_buckets();
  void shutdown();

  // ---- the pass ----
  bool tracking_unused() const { return !static_known && (opts.find_unused_parameters || opts.static_graph); }
  std::string describe(int64_t e) const {
    const Entry& en = entries[e];
    return detail::str(en.name, " (index ", en.index, ", shape ", en.param.shape(), ")");
  }
  static bool is_slot(const Tensor& g, const Tensor& slot) {
    return g.defined() && g.storage().get() == slot.storage().get() && g.offset() == slot.offset() &&
           g.shape() == slot.shape() && g.strides() == slot.strides();
  }
  void on_grad_ready(int64_t e);
  void start_pass();
  void mark_ready(int64_t e, bool has_grad);
  void launch(size_t b);
  void finalize(uint64_t id);
  void finalize_pass();
  void write_back(const std::vector<uint8_t>& global_used);
  void record_stats(Clock::time_point backward_end, Clock::time_point wait_end);
  void abandon();
  void reset_pass();
};

void Reducer::Impl::init(std::vector<Tensor> params, std::vector<std::string> names) {
  ICCRT_CHECK_VALUE(pg != nullptr, "Reducer: the process group is null");
  ICCRT_CHECK_VALUE(opts.bucket_cap_bytes > 0, "Reducer: bucket_cap_bytes must be positive, got ",
                    opts.bucket_cap_bytes);
  ICCRT_CHECK_VALUE(opts.first_bucket_bytes > 0, "Reducer: first_bucket_bytes must be positive, got ",
                    opts.first_bucket_bytes);
  ICCRT_CHECK_VALUE(names.empty() || names.size() == params.size(), "Reducer: got ", names.size(), " names for ",
                    params.size(), " parameters");
  world = pg->size();
  std::unordered_map<const autograd::AutogradMeta*, int64_t> seen;
  entry_of.assign(params.size(), -1);
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& t = params[i];
    const std::string name = names.empty() ? detail::str("parameter ", i) : names[i];
    ICCRT_CHECK_VALUE(t.defined(), "Reducer: ", name, " is an undefined tensor");
    if (!t.requires_grad()) continue;  // frozen parameters (and integer ones) need no reduction
    ICCRT_CHECK_VALUE(t.is_leaf(), "Reducer: ", name,
                      " is not a leaf tensor (it has a grad_fn): parameters must be "
                      "leaves");
    ICCRT_CHECK_DTYPE(is_floating(t.dtype()), "Reducer: ", name, " has dtype ", dtype_name(t.dtype()),
                      "; gradients are reduced for floating dtypes only");
    auto [it, fresh] = seen.emplace(t.autograd_meta().get(), static_cast<int64_t>(i));
    ICCRT_CHECK_VALUE(fresh, "Reducer: ", name, " is the same tensor as parameter ", it->second,
                      ": pass each parameter once");
    entry_of[i] = static_cast<int64_t>(entries.size());
    Entry en;
    en.param = t;
    en.index = static_cast<int64_t>(i);
    en.name = name;
    entries.push_back(std::move(en));
  }
  ICCRT_CHECK_VALUE(!entries.empty(), "Reducer: none of the ", params.size(),
                    " parameters requires grad; there is nothing to synchronise");
  check_same_across_ranks(*pg, params, names, "parameters");
  assign_buckets();

  const size_t n = entries.size();
  ready.assign(n, 0);
  got_grad.assign(n, 0);
  used_since_sync.assign(n, 0);
  std::weak_ptr<Impl> w = self;
  for (size_t e = 0; e < n; ++e)
    entries[e].hook = entries[e].param.register_post_accumulate_grad_hook([w, e](const Tensor&) {
      if (auto s = w.lock()) s->on_grad_ready(static_cast<int64_t>(e));
    });
}

// Reverse registration order, split by (dtype, device) and by size: a bucket closes before a parameter that would
// take it past its limit (first_bucket_bytes for a key's first bucket, bucket_cap_bytes after), so a bucket only
// exceeds the limit when one parameter alone does. Buckets are numbered in the order they were opened, which is
// the order their gradients are expected to complete. Deterministic: identical on every rank.
void Reducer::Impl::assign_buckets() {
  struct Open {
    DType dtype;
    Device device;
    int64_t bucket = -1;  // -1: none open
    int64_t bytes = 0;
    int opened = 0;
  };
  std::vector<Open> open;
  for (int64_t e = static_cast<int64_t>(entries.size()) - 1; e >= 0; --e) {
    Entry& en = entries[e];
    const DType dt = en.param.dtype();
    const Device dev = en.param.device();
    auto it = std::find_if(open.begin(), open.end(), [&](const Open& o) { return o.dtype == dt && o.device == dev; });
    if (it == open.end()) it = open.insert(open.end(), Open{dt, dev});
    const int64_t bytes = en.param.nbytes();
    const int64_t limit = it->opened <= 1 ? opts.first_bucket_bytes : opts.bucket_cap_bytes;
    if (it->bucket >= 0 && it->bytes > 0 && it->bytes + bytes > limit) it->bucket = -1;
    if (it->bucket < 0) {
      it->bucket = static_cast<int64_t>(buckets.size());
      it->bytes = 0;
      ++it->opened;
      Bucket b;
      b.dtype = dt;
      b.device = dev;
      buckets.push_back(std::move(b));
    }
    Bucket& b = buckets[it->bucket];
    en.bucket = it->bucket;
    b.entries.push_back(e);
    b.numel += en.param.numel();
    it->bytes += bytes;
  }
  for (Bucket& b : buckets) {
    b.buffer = zeros({b.numel}, TensorOptions(b.dtype, b.device));
    int64_t offset = 0;
    for (int64_t e : b.entries) {
      Entry& en = entries[e];
      en.slot = b.buffer.narrow(0, offset, en.param.numel()).view(en.param.shape());
      offset += en.param.numel();
    }
    b.pending = static_cast<int64_t>(b.entries.size());
  }
}

void Reducer::Impl::shutdown() {
  for (Entry& en : entries)
    if (en.hook >= 0 && en.param.autograd_meta()) autograd::remove_hook(*en.param.mutable_autograd_meta(), en.hook);
  watcher.stop();  // after the collectives still running on the buckets, which are bounded by the group timeout
}

void Reducer::Impl::on_grad_ready(int64_t e) {
  std::lock_guard<std::mutex> lock(mu);
  if (!sync) {  // no_sync: the gradient stays in .grad (or accumulates in the bucket view it already is)
    used_since_sync[e] = 1;
    return;
  }
  if (pass_active && pass_token.expired()) {
    abandon();  // Note [Abandoned passes]
    ICCRT_CHECK_VALUE(false,
                      "DistributedDataParallel: a backward pass started before the gradient reduction of the "
                      "previous one finished: that pass stopped (it raised) after some gradients were ready, so its "
                      "gradients were not synchronised, and this rank's collectives may no longer match the other "
                      "ranks'. The reducer has been reset; the next backward pass starts clean.");
  }
  if (pass_active && pass_thread != std::this_thread::get_id())
    ICCRT_CHECK_VALUE(false,
                      "DistributedDataParallel: two backward passes ran at once on different threads; gradient "
                      "reduction handles one pass at a time");
  try {
    if (!pass_active) start_pass();
  } catch (...) {
    abandon();  // a collective failed to launch (the group is gone): nothing of this pass can complete
    throw;
  }
  if (ready[e]) {
    const bool static_unused_param = static_known && static_unused[e];
    const std::string what = describe(e);
    abandon();
    ICCRT_CHECK_VALUE(!static_unused_param, "DistributedDataParallel(static_graph=True): parameter ", what,
                      " got no gradient in the first step but received one now: the set of used parameters must "
                      "not change with static_graph");
    ICCRT_CHECK_VALUE(false, "DistributedDataParallel: parameter ", what,
                      " received its gradient twice in one "
                      "backward pass (a nested or reentrant backward?); gradient reduction needs one per pass");
  }
  got_grad[e] = 1;
  try {
    mark_ready(e, true);
  } catch (...) {
    abandon();
    throw;
  }
}

void Reducer::Impl::start_pass() {
  pass_active = true;
  ++pass_id;
  pass_thread = std::this_thread::get_id();
  t0 = Clock::now();
  first_grad_after_forward = forward_end_valid ? seconds(t0 - forward_end) : -1;
  forward_end_valid = false;
  auto token = std::make_shared<int>(0);
  pass_token = token;
  autograd::queue_callback([w = self, token, id = pass_id] {
    if (auto s = w.lock()) s->finalize(id);
  });
  if (static_known) {
    for (size_t e = 0; e < entries.size(); ++e)
      if (static_unused[e]) mark_ready(static_cast<int64_t>(e), false);
  } else if (opts.find_unused_parameters || opts.static_graph) {
    for (int64_t e : unreachable) mark_ready(e, false);
  }
}

// A parameter without a gradient this pass contributes zeros, unless earlier no_sync passes accumulated one.
void Reducer::Impl::mark_ready(int64_t e, bool has_grad) {
  Entry& en = entries[e];
  Bucket& b = buckets[en.bucket];
  Tensor g = en.param.grad();
  if (has_grad || (used_since_sync[e] && g.defined())) {
    if (!is_slot(g, en.slot)) {
      en.slot.copy_(g);
      if (opts.gradient_as_bucket_view) en.param.set_grad(en.slot);
    }
  } else {
    // Zeroing the slot must not change a .grad that is that slot: the parameter may turn out unused everywhere,
    // and then its .grad stays as it was.
    if (is_slot(g, en.slot)) en.param.set_grad(g.clone());
    en.slot.zero_();
  }
  ready[e] = 1;
  if (--b.pending == 0)
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) launch(next_launch++);
}

void Reducer::Impl::launch(size_t i) {
  Bucket& b = buckets[i];
  b.launch = Clock::now();
  if (b.wire.defined()) {
    // Pre-divided in full precision: the sum of the compressed values cannot overflow float16.
    ops::mul_(b.buffer, Scalar(1.0 / world));
    b.wire.copy_(b.buffer);
    b.work = pg->all_reduce(b.wire, comm::ReduceOp::Sum);
  } else {
    b.work = pg->all_reduce(b.buffer, comm::ReduceOp::Avg);
  }
  watcher.push(i, b.work);
}

void Reducer::Impl::finalize(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu);
  if (!pass_active || id != pass_id) return;  // that pass was abandoned already
  try {
    finalize_pass();
  } catch (...) {
    if (pass_active) abandon();
    throw;
  }
}

void Reducer::Impl::finalize_pass() {
  autograd::NoGradGuard no_grad;
  const Clock::time_point backward_end = Clock::now();
  std::vector<int64_t> missing;
  for (size_t e = 0; e < entries.size(); ++e)
    if (!ready[e]) missing.push_back(static_cast<int64_t>(e));
  if (!missing.empty()) {
    if (!tracking_unused()) {
      std::string list;
      for (size_t k = 0; k < missing.size(); ++k) list += (k ? ", " : "") + describe(missing[k]);
      const bool static_mode = static_known;
      abandon();
      ICCRT_CHECK_VALUE(!static_mode,
                        "DistributedDataParallel(static_graph=True): these parameters received a "
                        "gradient in the first step but none in this backward pass: ",
                        list, ". The set of used parameters must not change with static_graph.");
      ICCRT_CHECK_VALUE(false,
                        "DistributedDataParallel: these parameters require grad but received no gradient in "
                        "this backward pass: ",
                        list,
                        ". Every rank must use all of them to compute its loss; if some "
                        "are unused on purpose (a branch not taken), pass find_unused_parameters=True.");
    }
    for (int64_t e : missing) mark_ready(e, false);
  }
  const bool map_step = tracking_unused();
  if (map_step) {
    used_map = zeros({static_cast<int64_t>(entries.size())}, DType::Int32);
    int32_t* m = used_map.data<int32_t>();
    for (size_t e = 0; e < entries.size(); ++e) m[e] = got_grad[e] || used_since_sync[e];
    used_work = pg->all_reduce(used_map, comm::ReduceOp::Max);
  }
  std::exception_ptr err;
  for (Bucket& b : buckets) try {
      b.work->wait();
    } catch (...) {
      if (!err) err = std::current_exception();
    }
  if (used_work) try {
      used_work->wait();
    } catch (...) {
      if (!err) err = std::current_exception();
    }
  if (err) std::rethrow_exception(err);
  const Clock::time_point wait_end = Clock::now();

  std::vector<uint8_t> global_used(entries.size(), 1);
  if (map_step) {
    const int32_t* m = used_map.data<int32_t>();
    for (size_t e = 0; e < entries.size(); ++e) global_used[e] = m[e] != 0;
  } else if (static_known) {
    global_used = static_global_used;
  }
  for (Bucket& b : buckets)
    if (b.wire.defined()) b.buffer.copy_(b.wire);
  write_back(global_used);
  if (opts.static_graph && !static_known) {
    static_known = true;
    static_unused.assign(entries.size(), 0);
    for (size_t e = 0; e < entries.size(); ++e) static_unused[e] = !(got_grad[e] || used_since_sync[e]);
    static_global_used = global_used;
  }
  ++steps;
  record_stats(backward_end, wait_end);
  reset_pass();
}

// .grad of every parameter some rank used: the averaged slot, as a view or copied into the existing .grad.
void Reducer::Impl::write_back(const std::vector<uint8_t>& global_used) {
  for (size_t e = 0; e < entries.size(); ++e) {
    if (!global_used[e]) continue;
    Entry& en = entries[e];
    Tensor g = en.param.grad();
    if (opts.gradient_as_bucket_view) {
      if (!is_slot(g, en.slot)) en.param.set_grad(en.slot);
    } else if (g.defined() && !is_slot(g, en.slot)) {
      g.copy_(en.slot);
    } else {
      en.param.set_grad(en.slot.clone());
    }
  }
}

void Reducer::Impl::record_stats(Clock::time_point backward_end, Clock::time_point wait_end) {
  const std::vector<Clock::time_point> done = watcher.wait_all();
  StepStats s;
  s.step = steps;
  s.first_grad_after_forward_s = first_grad_after_forward;
  s.world_size = world;
  s.backward_end_s = seconds(backward_end - t0);
  s.wait_end_s = seconds(wait_end - t0);
  s.exposed_wait_s = s.wait_end_s - s.backward_end_s;
  double prev_end = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    const Bucket& b = buckets[i];
    BucketStats bs;
    bs.num_params = static_cast<int64_t>(b.entries.size());
    bs.bytes = b.buffer.nbytes();
    bs.wire_bytes = b.wire.defined() ? b.wire.nbytes() : bs.bytes;
    bs.launch_s = seconds(b.launch - t0);
    // The watcher's stamp, or the end of the reducer's own wait if that came first (the op was done by then).
    bs.done_s = std::min(i < done.size() ? seconds(done[i] - t0) : s.wait_end_s, s.wait_end_s);
    bs.launched_before_backward_end = b.launch < backward_end;
    s.launched_before_backward_end += bs.launched_before_backward_end;
    const double start = std::max(bs.launch_s, prev_end);
    const double end = std::max(bs.done_s, start);
    s.allreduce_s += end - start;
    s.hidden_s += std::max(0.0, std::min(end, s.backward_end_s) - start);
    prev_end = end;
    s.buckets.push_back(bs);
  }
  s.hidden_fraction = s.allreduce_s > 0 ? s.hidden_s / s.allreduce_s : 0.0;
  std::lock_guard<std::mutex> lock(stats_mu);
  last = std::move(s);
}

// Note [Abandoned passes]: waits (bounded) for everything launched, then forgets the pass.
void Reducer::Impl::abandon() {
  for (Bucket& b : buckets)
    if (b.work) try {
        b.work->wait();
      } catch (...) {
      }
  if (used_work) try {
      used_work->wait();
    } catch (...) {
    }
  watcher.wait_all();
  reset_pass();
}

void Reducer::Impl::reset_pass() {
  watcher.reset();
  pass_active = false;
  pass_token.reset();
  std::fill(ready.begin(), ready.end(), 0);
  std::fill(got_grad.begin(), got_grad.end(), 0);
  std::fill(used_since_sync.begin(), used_since_sync.end(), 0);
  for (Bucket& b : buckets) {
    b.pending = static_cast<int64_t>(b.entries.size());
    b.work.reset();
  }
  next_launch = 0;
  unreachable.clear();
  used_work.reset();
}

// ---- Reducer ----

Reducer::Reducer(std::vector<Tensor> params, std::shared_ptr<comm::ProcessGroup> pg, ReducerOptions options,
                 std::vector<std::string> names)
    : impl_(std::make_shared<Impl>()) {
  impl_->self = impl_;
  impl_->pg = std::move(pg);
  impl_->opts = options;
  impl_->init(std::move(params), std::move(names));
  set_comm_hook(options.comm_hook);
}

Reducer::~Reducer() { impl_->shutdown(); }

void Reducer::prepare_for_backward(const std::vector<Tensor>& outputs) {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.mu);
  s.forward_end = Clock::now();
  s.forward_end_valid = s.sync;  // a no_sync forward's stamp must not reach the next synchronised pass
  if (!s.sync || !s.tracking_unused()) return;
  // The parameters whose AccumulateGrad the outputs reach; the others get no gradient in this backward.
  std::unordered_set<const autograd::AutogradMeta*> reached;
  std::unordered_set<const autograd::Node*> seen;
  std::vector<autograd::Node*> stack;
  for (const Tensor& t : outputs) {
    if (!t.defined() || !t.requires_grad()) continue;
    if (t.is_leaf()) reached.insert(t.autograd_meta().get());
    const autograd::Edge e = autograd::gradient_edge(t);
    if (e.valid() && seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
  }
  while (!stack.empty()) {
    autograd::Node* n = stack.back();
    stack.pop_back();
    if (auto* acc = dynamic_cast<autograd::AccumulateGrad*>(n)) reached.insert(acc->leaf().get());
    for (const autograd::Edge& e : n->next_edges)
      if (e.valid() && seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
  }
  s.unreachable.clear();
  for (size_t e = 0; e < s.entries.size(); ++e)
    if (!reached.count(s.entries[e].param.autograd_meta().get())) s.unreachable.push_back(static_cast<int64_t>(e));
}

void Reducer::set_require_backward_grad_sync(bool on) { impl_->sync = on; }

bool Reducer::require_backward_grad_sync() const { return impl_->sync; }

void Reducer::set_comm_hook(CommHook hook) {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.mu);
  ICCRT_CHECK_VALUE(!s.pass_active && (s.steps == 0 || hook == s.opts.comm_hook),
                    "DistributedDataParallel: register the communication hook before the first backward pass");
  s.opts.comm_hook = hook;
  const DType wire = hook == CommHook::BF16Compress   ? DType::BFloat16
                     : hook == CommHook::FP16Compress ? DType::Float16
                                                      : DType::Float32;
  for (Impl::Bucket& b : s.buckets) {
    const bool compress = hook != CommHook::AllReduce && b.dtype != wire;
    b.wire = compress ? empty({b.numel}, TensorOptions(wire, b.device)) : Tensor();
  }
}

CommHook Reducer::comm_hook() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->opts.comm_hook;
}

StepStats Reducer::last_step_stats() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mu);
  return impl_->last;
}

int64_t Reducer::num_buckets() const { return static_cast<int64_t>(impl_->buckets.size()); }

std::vector<int64_t> Reducer::bucket_params(int64_t b) const {
  ICCRT_CHECK_INDEX(b >= 0 && b < num_buckets(), "bucket_params: bucket ", b, " out of range [0, ", num_buckets(), ")");
  std::vector<int64_t> out;
  for (int64_t e : impl_->buckets[b].entries) out.push_back(impl_->entries[e].index);
  return out;
}

Tensor Reducer::bucket_buffer(int64_t b) const {
  ICCRT_CHECK_INDEX(b >= 0 && b < num_buckets(), "bucket_buffer: bucket ", b, " out of range [0, ", num_buckets(), ")");
  return impl_->buckets[b].buffer;
}

Tensor Reducer::bucket_view(int64_t i) const {
  const int64_t n = static_cast<int64_t>(impl_->entry_of.size());
  ICCRT_CHECK_INDEX(i >= 0 && i < n && impl_->entry_of[i] >= 0, "bucket_view: parameter ", i,
                    " is not reduced (out of range [0, ", n, ") or does not require grad)");
  return impl_->entries[impl_->entry_of[i]].slot;
}

const ReducerOptions& Reducer::options() const { return impl_->opts; }
const std::shared_ptr<comm::ProcessGroup>& Reducer::process_group() const { return impl_->pg; }

}  // namespace iccrt::parallel
