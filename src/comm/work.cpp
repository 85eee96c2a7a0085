#include "iccrt/comm/work.hpp"

namespace iccrt::comm {

bool Work::is_completed() {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

void Work::wait() {
  std::exception_ptr err;
  std::function<bool()> runner;  // a copy: mark_done() may clear the member meanwhile
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!done_) runner = inline_runner_;
  }
  if (runner) runner();
  {
    // The op itself is bounded by the group's timeout (every wait inside it is), so this wait is too.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    err = error_;
  }
  if (err) std::rethrow_exception(err);
}

std::exception_ptr Work::exception() {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void Work::mark_done(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::move(error);
    done_ = true;
    inline_runner_ = nullptr;  // it holds the group; a finished op needs it no more
  }
  cv_.notify_all();
}

}  // namespace iccrt::comm
