#pragma once
// DistributedDataParallel: data-parallel training of an nn::Module over a ProcessGroup (torch's
// DistributedDataParallel, for C++ users; Python's iccrt.parallel.DistributedDataParallel wraps the same Reducer).
//
// Every rank builds the same model and wraps it; construction makes rank 0's parameters and buffers everyone's.
// Each rank then runs forward and backward on its own share of the batch; the backward pass leaves in every
// parameter's .grad the average of the ranks' gradients (reduced in buckets while the pass runs, reducer.hpp), so an
// optimizer step keeps the replicas identical. With a mean loss, N ranks with batch B/N each step exactly like one
// process with batch B.
//
//     auto ddp = parallel::DistributedDataParallel(model, pg);
//     for (...) {
//       ddp.sync_buffers();                  // only with buffers that change in forward (broadcast_buffers)
//       Tensor loss = loss_fn(model->forward(x_shard), y_shard);
//       ddp.prepare_for_backward({loss});    // only with find_unused_parameters
//       loss.backward();                     // gradients averaged over the ranks when it returns
//       opt.step();
//       opt.zero_grad();
//     }
//     { auto guard = ddp.no_sync(); ... loss.backward(); }   // accumulate locally; the next synced pass reduces all
#include <memory>
#include <vector>

#include "iccrt/comm/process_group.hpp"
#include "iccrt/nn/module.hpp"
#include "iccrt/parallel/reducer.hpp"

namespace iccrt::parallel {

struct DDPOptions : ReducerOptions {
  // sync_buffers() copies rank 0's buffers to every rank (running statistics stay identical); off: a no-op.
  bool broadcast_buffers = true;
};

class ICCRT_API DistributedDataParallel {
 public:
  // Collective over pg. Checks that every rank's module has the same parameters and buffers (ValueError naming
  // the first differing rank and tensor), then broadcasts rank 0's values. Parameters are taken from
  // module->parameters() now: move the module (to()) before wrapping it.
  DistributedDataParallel(std::shared_ptr<nn::Module> module, std::shared_ptr<comm::ProcessGroup> pg,
                          DDPOptions options = {});

  const std::shared_ptr<nn::Module>& module() const { return module_; }
  const std::shared_ptr<comm::ProcessGroup>& process_group() const { return pg_; }
  Reducer& reducer() { return *reducer_; }
  const DDPOptions& options() const { return options_; }

  // Collective: broadcasts rank 0's buffers (when broadcast_buffers and the module has any). Call before forward.
  void sync_buffers();
  // See Reducer::prepare_for_backward: call with the forward's outputs when find_unused_parameters is on.
  void prepare_for_backward(const std::vector<Tensor>& outputs) { reducer_->prepare_for_backward(outputs); }
  StepStats last_step_stats() const { return reducer_->last_step_stats(); }

  // While alive, backward passes accumulate gradients locally without communicating; the first synchronised pass
  // after it reduces the accumulated sum. Restores the previous setting when destroyed (guards may nest).
  class ICCRT_API NoSyncGuard {
   public:
    explicit NoSyncGuard(Reducer& reducer);
    ~NoSyncGuard();
    NoSyncGuard(NoSyncGuard&& other) noexcept;
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(NoSyncGuard&&) = delete;

   private:
    Reducer* reducer_;
    bool previous_;
  };
  [[nodiscard]] NoSyncGuard no_sync() { return NoSyncGuard(*reducer_); }

 private:
  std::shared_ptr<nn::Module> module_;
  std::shared_ptr<comm::ProcessGroup> pg_;
  DDPOptions options_;
  std::unique_ptr<Reducer> reducer_;
};

}  // namespace iccrt::parallel
