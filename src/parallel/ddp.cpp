// DistributedDataParallel over an nn::Module: the module's replicas made identical at construction, gradient
// averaging delegated to the Reducer.
#include "iccrt/parallel/ddp.hpp"

#include "iccrt/core/error.hpp"

namespace iccrt::parallel {

namespace {

std::vector<std::string> names_of(const nn::StateDict& named) {
  std::vector<std::string> out;
  out.reserve(named.size());
  for (const auto& [name, t] : named) out.push_back(name);
  return out;
}

std::vector<Tensor> tensors_of(const nn::StateDict& named) {
  std::vector<Tensor> out;
  out.reserve(named.size());
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}

}  // namespace

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module,
                                                 std::shared_ptr<comm::ProcessGroup> pg, DDPOptions options)
    : module_(std::move(module)), pg_(std::move(pg)), options_(options) {
  ICCRT_CHECK_VALUE(module_ != nullptr, "DistributedDataParallel: the module is null");
  ICCRT_CHECK_VALUE(pg_ != nullptr, "DistributedDataParallel: the process group is null");
  // The Reducer checks the parameters across ranks before anything is broadcast into them.
  const nn::StateDict params = module_->named_parameters();
  reducer_ = std::make_unique<Reducer>(tensors_of(params), pg_, options_, names_of(params));
  const nn::StateDict buffers = module_->named_buffers();
  check_same_across_ranks(*pg_, tensors_of(buffers), names_of(buffers), "buffers");
  broadcast_coalesced(*pg_, tensors_of(params), 0);
  broadcast_coalesced(*pg_, tensors_of(buffers), 0);
}

void DistributedDataParallel::sync_buffers() {
  if (!options_.broadcast_buffers) return;
  const std::vector<Tensor> buffers = module_->buffers();
  if (!buffers.empty()) broadcast_coalesced(*pg_, buffers, 0);
}

DistributedDataParallel::NoSyncGuard::NoSyncGuard(Reducer& reducer)
    : reducer_(&reducer), previous_(reducer.require_backward_grad_sync()) {
  reducer_->set_require_backward_grad_sync(false);
}

DistributedDataParallel::NoSyncGuard::NoSyncGuard(NoSyncGuard&& other) noexcept
    : reducer_(other.reducer_), previous_(other.previous_) {
  other.reducer_ = nullptr;
}

DistributedDataParallel::NoSyncGuard::~NoSyncGuard() {
  if (reducer_) reducer_->set_require_backward_grad_sync(previous_);
}

}  // namespace iccrt::parallel
