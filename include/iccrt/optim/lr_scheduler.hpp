#pragma once
// Learning-rate schedules. Every schedule is closed-form: the rate at step t depends only on t and the group's
// initial rate, so a resumed run (load_state_dict) gets exactly the rates of an uninterrupted one. The same
// formulas as python/iccrt/optim/lr_scheduler.py.
//
// Usage, once per optimizer step:
//   optim::CosineWarmupLR sched(opt, /*warmup_steps=*/100, /*total_steps=*/5000);
//   for (...) { ...; opt.step(); sched.step(); }
#include <map>
#include <string>
#include <vector>

#include "iccrt/optim/optimizer.hpp"

namespace iccrt::optim {

class ICCRT_API LRScheduler {
 public:
  // Records each group's current "lr" as its initial rate; the subclass constructor then applies step 0.
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler();
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances to the next step and sets every group's "lr" to that step's rate.
  void step();
  // The step the current rates belong to (0 after construction).
  int64_t last_step() const { return last_step_; }
  // The rates the last step() (or the construction) set, one per group.
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  // The rate at step t for a group whose initial rate is base_lr.
  virtual double lr_at(double base_lr, int64_t t) const = 0;

  // "last_step" and "base_lr.<g>".
  std::map<std::string, double> state_dict() const;
  // Restores the step and initial rates and sets the optimizer's rates to that step's (ValueError when the
  // group count differs or a key is missing).
  void load_state_dict(const std::map<std::string, double>& state);

 protected:
  void apply();  // sets the rates for last_step_

 private:
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
  int64_t last_step_ = 0;
};

// lr = initial * gamma ^ floor(t / step_size). step_size > 0 (ValueError).
class ICCRT_API StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  double lr_at(double base_lr, int64_t t) const override;

  const int64_t step_size;
  const double gamma;
};

// Linear warmup then cosine decay, the usual schedule for transformers:
//   t <  warmup_steps:  lr = initial * (t + 1) / warmup_steps          (the first step already trains)
//   t >= warmup_steps:  lr = eta_min + (initial - eta_min) * (1 + cos(pi * p)) / 2,
//                       p = min(1, (t - warmup_steps) / max(1, total_steps - warmup_steps))
// so the rate reaches eta_min at total_steps and stays there. Needs 0 <= warmup_steps <= total_steps and
// total_steps > 0 (ValueError).
class ICCRT_API CosineWarmupLR : public LRScheduler {
 public:
  CosineWarmupLR(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double eta_min = 0.0);
  double lr_at(double base_lr, int64_t t) const override;

  const int64_t warmup_steps, total_steps;
  const double eta_min;
};

}  // namespace iccrt::optim
