#pragma once
// Work: the handle every collective returns. The op runs on the group's worker thread (CPU) or on the
// tensor's CUDA stream (NCCL); wait() blocks until it is done and rethrows its error, if any.
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <string>

#include "iccrt/comm/types.hpp"

namespace iccrt::comm {

class ICCRT_API Work {
 public:
  explicit Work(std::string description) : description_(std::move(description)) {}
  virtual ~Work() = default;
  Work(const Work&) = delete;
  Work& operator=(const Work&) = delete;

  // True once the op finished, successfully or not. Never blocks.
  virtual bool is_completed();
  // Blocks until the op finished; rethrows its error. The op itself is bounded by the group's timeout, so this
  // returns (or throws CommTimeout) within that time.
  virtual void wait();
  // Non-null when the op failed (after completion).
  std::exception_ptr exception();
  const std::string& description() const { return description_; }

  // Producer side (the worker thread).
  void mark_done(std::exception_ptr error = nullptr);

 protected:
  std::string description_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::exception_ptr error_;
};
using WorkPtr = std::shared_ptr<Work>;

}  // namespace iccrt::comm
