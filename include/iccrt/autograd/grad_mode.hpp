#pragma once
// Whether ops record on the autograd tape, per thread (like torch.no_grad / enable_grad).
#include "iccrt/core/export.hpp"

namespace iccrt::autograd {

struct ICCRT_API GradMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// Sets grad mode for a scope and restores the previous one when the scope ends.
class ICCRT_API AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled) : prev_(GradMode::is_enabled()) { GradMode::set_enabled(enabled); }
  ~AutoGradMode() { GradMode::set_enabled(prev_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool prev_;
};

struct ICCRT_API NoGradGuard : AutoGradMode {
  NoGradGuard() : AutoGradMode(false) {}
};
struct ICCRT_API EnableGradGuard : AutoGradMode {
  EnableGradGuard() : AutoGradMode(true) {}
};

}  // namespace iccrt::autograd
