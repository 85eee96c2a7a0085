#pragma once
// Reducer: the gradient synchronisation behind DistributedDataParallel (ddp.hpp), usable on its own over any
// list of parameters (Note [Bucketed gradient reduction] in src/parallel/reducer.cpp).
//
// Gradients are averaged over the ranks of a ProcessGroup while the backward pass is still running. Parameters
// that require grad are packed, in reverse registration order (the order their gradients become ready), into
// buckets of at most bucket_cap_bytes (the first one at most first_bucket_bytes, so communication starts early),
// one flat gradient buffer per bucket and per (dtype, device). A post-accumulate-grad hook on every parameter
// copies its gradient into its bucket slot; a bucket whose parameters are all ready starts its all-reduce
// asynchronously, in bucket order on every rank. When the backward pass ends the reducer waits for the
// all-reduces and leaves the averaged gradient in each parameter's .grad.
//
// Requirements: every rank builds its Reducer with the same parameters (count, shapes, dtypes, requires_grad;
// checked at construction, ValueError naming the first differing rank and parameter), and runs the same backward
// passes. Errors of the collectives (a peer died, a timeout) surface from backward() as comm::CommError.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "iccrt/comm/process_group.hpp"
#include "iccrt/core/export.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt::parallel {

// What a bucket's communication does (torch's built-in DDP communication hooks).
enum class CommHook : uint8_t {
  AllReduce,     // all-reduce the gradients as they are (average)
  BF16Compress,  // pre-divide by the world size, cast to bfloat16, all-reduce (sum), cast back
  FP16Compress,  // the same through float16
};
ICCRT_API const char* to_string(CommHook hook);
// "allreduce", "bf16_compress", "fp16_compress" (ValueError otherwise).
ICCRT_API CommHook parse_comm_hook(const std::string& name);

struct ReducerOptions {
  int64_t bucket_cap_bytes = int64_t{25} << 20;
  int64_t first_bucket_bytes = int64_t{1} << 20;
  // Parameters that get no gradient in a backward pass contribute zeros instead of raising; parameters that no
  // rank used keep their .grad untouched (found by an all-reduce of a used-parameter map at the end of a step).
  bool find_unused_parameters = false;
  // .grad of each parameter becomes a view into its bucket: no copy when the next backward accumulates into it
  // (keep it with zero_grad(set_to_none=false); a new .grad is copied in once and replaced by the view).
  bool gradient_as_bucket_view = false;
  // The set of parameters used in a backward pass never changes: the first synchronised pass finds it (as with
  // find_unused_parameters), later passes reuse it without the graph walk and the used-map all-reduce, and a
  // pass that uses a different set raises ValueError.
  bool static_graph = false;
  CommHook comm_hook = CommHook::AllReduce;
};

// Per-bucket record of the last synchronised step. Times in seconds since the first gradient of that backward
// pass was ready.
struct BucketStats {
  int64_t num_params = 0;
  int64_t bytes = 0;       // gradient buffer
  int64_t wire_bytes = 0;  // what the all-reduce moved per rank (the compressed buffer with a compression hook)
  double launch_s = 0;     // all-reduce issued
  double done_s = 0;       // all-reduce completed (seen by a thread that waits on it)
  bool launched_before_backward_end = false;
};

// The overlap evidence of the last synchronised step.
struct StepStats {
  int64_t step = 0;  // synchronised backward passes so far
  int world_size = 1;
  std::vector<BucketStats> buckets;  // in bucket (= launch) order
  // From the end of forward (prepare_for_backward) to the first ready gradient; -1 when prepare_for_backward was
  // not called before this pass. Most of backward's compute normally lies in between.
  double first_grad_after_forward_s = -1;
  double backward_end_s = 0;  // the backward pass finished its last node
  double wait_end_s = 0;      // the reducer's waits for the all-reduces returned
  int64_t launched_before_backward_end = 0;
  // Time the group spent on this step's bucket all-reduces: bucket i runs from max(its launch, the end of bucket
  // i - 1) to its completion, since one group runs its ops in order.
  double allreduce_s = 0;
  double hidden_s = 0;         // the part of allreduce_s before backward_end_s
  double hidden_fraction = 0;  // hidden_s / allreduce_s (0 when nothing was reduced)
  double exposed_wait_s = 0;   // wait_end_s - backward_end_s: what the backward thread waited for at the end
};

class ICCRT_API Reducer {
 public:
  // params: the parameters to synchronise (those without requires_grad are skipped; the indices used by
  // bucket_params() and in errors are positions in this list). names: one per parameter for error messages, or
  // empty ("parameter i"). Collective over pg: checks that every rank passes the same parameters. ValueError on
  // an empty list of trainable parameters, duplicates, non-leaf tensors, or bad options.
  Reducer(std::vector<Tensor> params, std::shared_ptr<comm::ProcessGroup> pg, ReducerOptions options = {},
          std::vector<std::string> names = {});
  ~Reducer();  // removes the hooks; waits for collectives still running on the buckets
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  // Call when forward has produced `outputs`. Stamps the end of forward (StepStats::first_grad_after_forward_s).
  // With find_unused_parameters (or static_graph's first step) it also walks the autograd graph from the outputs
  // and notes the parameters it cannot reach, so that the next backward marks them ready at its start instead of
  // holding their buckets back to its end. Does nothing while synchronisation is off.
  void prepare_for_backward(const std::vector<Tensor>& outputs);

  // Off: backward passes only accumulate into .grad (no_sync); the next synchronised pass reduces the sum.
  void set_require_backward_grad_sync(bool on);
  bool require_backward_grad_sync() const;

  // Before the first synchronised backward pass only (ValueError after).
  void set_comm_hook(CommHook hook);
  CommHook comm_hook() const;

  StepStats last_step_stats() const;

  int64_t num_buckets() const;
  // Indices (into the constructor's list) of bucket b's parameters, in slot order.
  std::vector<int64_t> bucket_params(int64_t b) const;
  // Bucket b's flat gradient buffer (shares memory with the slots and, with gradient_as_bucket_view, the grads).
  Tensor bucket_buffer(int64_t b) const;
  // Parameter i's slot in its bucket buffer (shaped like the parameter); IndexError for skipped parameters.
  Tensor bucket_view(int64_t i) const;

  const ReducerOptions& options() const;
  const std::shared_ptr<comm::ProcessGroup>& process_group() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Collective over pg: raises ValueError on every rank unless all ranks pass tensors of the same count, shapes,
// dtypes, device types and requires_grad. The message names the first differing rank and the tensor (by
// names[i] when given) with both ranks' descriptions. `what` names the list ("parameters", "buffers").
ICCRT_API void check_same_across_ranks(comm::ProcessGroup& pg, const std::vector<Tensor>& tensors,
                                       const std::vector<std::string>& names, const std::string& what);

// Collective over pg: copies root's values into every rank's tensors (same list on every rank), packing tensors of
// one dtype and device into flat buffers so that a model costs a few broadcasts, not one per tensor. Writes under
// no_grad (parameters stay leaves).
ICCRT_API void broadcast_coalesced(comm::ProcessGroup& pg, const std::vector<Tensor>& tensors, int root);

}  // namespace iccrt::parallel
