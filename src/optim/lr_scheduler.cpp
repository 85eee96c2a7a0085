// Learning-rate schedules (include/iccrt/optim/lr_scheduler.hpp).
#include "iccrt/optim/lr_scheduler.hpp"

#include <cmath>

#include "iccrt/core/error.hpp"

namespace iccrt::optim {

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
  for (size_t g = 0; g < optimizer_.param_groups().size(); ++g) base_lrs_.push_back(optimizer_.option(g, "lr"));
  last_lr_ = base_lrs_;
}

LRScheduler::~LRScheduler() = default;

void LRScheduler::apply() {
  auto& groups = optimizer_.param_groups();
  ICCRT_CHECK_VALUE(groups.size() == base_lrs_.size(), "lr scheduler: the optimizer has ", groups.size(),
                    " parameter groups, the scheduler was made for ", base_lrs_.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    last_lr_[g] = lr_at(base_lrs_[g], last_step_);
    groups[g].options["lr"] = last_lr_[g];
  }
}

void LRScheduler::step() {
  ++last_step_;
  apply();
}

std::map<std::string, double> LRScheduler::state_dict() const {
  std::map<std::string, double> out{{"last_step", static_cast<double>(last_step_)}};
  for (size_t g = 0; g < base_lrs_.size(); ++g) out[detail::str("base_lr.", g)] = base_lrs_[g];
  return out;
}

void LRScheduler::load_state_dict(const std::map<std::string, double>& state) {
  auto it = state.find("last_step");
  ICCRT_CHECK_VALUE(it != state.end() && it->second >= 0.0 && it->second == std::floor(it->second),
                    "lr scheduler: load_state_dict needs a non-negative integer \"last_step\"");
  const size_t groups = optimizer_.param_groups().size();
  size_t saved_groups = 0;
  while (state.count(detail::str("base_lr.", saved_groups))) ++saved_groups;
  ICCRT_CHECK_VALUE(saved_groups == groups, "lr scheduler: the loaded state has ", saved_groups,
                    " groups, the optimizer has ", groups);
  for (size_t g = 0; g < groups; ++g) base_lrs_[g] = state.at(detail::str("base_lr.", g));
  last_lr_.resize(groups);
  last_step_ = static_cast<int64_t>(it->second);
  apply();
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size_, double gamma_)
    : LRScheduler(optimizer), step_size(step_size_), gamma(gamma_) {
  ICCRT_CHECK_VALUE(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
  apply();
}

double StepLR::lr_at(double base_lr, int64_t t) const {
  return base_lr * std::pow(gamma, static_cast<double>(t / step_size));
}

CosineWarmupLR::CosineWarmupLR(Optimizer& optimizer, int64_t warmup_steps_, int64_t total_steps_, double eta_min_)
    : LRScheduler(optimizer), warmup_steps(warmup_steps_), total_steps(total_steps_), eta_min(eta_min_) {
  ICCRT_CHECK_VALUE(warmup_steps >= 0 && total_steps > 0 && warmup_steps <= total_steps,
                    "CosineWarmupLR: needs 0 <= warmup_steps <= total_steps and total_steps > 0, got warmup_steps=",
                    warmup_steps, ", total_steps=", total_steps);
  apply();
}

double CosineWarmupLR::lr_at(double base_lr, int64_t t) const {
  if (t < warmup_steps) return base_lr * static_cast<double>(t + 1) / static_cast<double>(warmup_steps);
  const double span = static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(t - warmup_steps) / span);
  return eta_min + (base_lr - eta_min) * (1.0 + std::cos(M_PI * progress)) / 2.0;
}

}  // namespace iccrt::optim
