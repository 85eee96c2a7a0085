#pragma once
// Work: the handle every collective returns. The op runs on the group's worker thread (CPU) or on the
// tensor's CUDA stream (NCCL); wait() blocks until it is done and rethrows its error, if any.
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "iccrt/comm/types.hpp"

namespace iccrt::comm {

class ICCRT_API Work {
 public:
  explicit Work(std::string description) : description_(std::move(description)) {}
  // Description built only when asked for (errors, repr): keeps the per-op cost of small collectives low.
  explicit Work(std::function<std::string()> describe) : describe_(std::move(describe)) {}
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
  std::string description() const { return describe_ ? describe_() : description_; }

  // Producer side (the worker thread).
  void mark_done(std::exception_ptr error = nullptr);
  // Set by the group: lets wait() run the op on the waiting thread when the group's worker has not started it
  // yet (saves a thread hand-off per blocking call; Note [Running a waited op inline] in process_group.cpp).
  void set_inline_runner(std::function<bool()> f) {
    std::lock_guard<std::mutex> lock(mu_);
    inline_runner_ = std::move(f);
  }

 protected:
  std::string description_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::exception_ptr error_;
  std::function<bool()> inline_runner_;
  std::function<std::string()> describe_;
};
using WorkPtr = std::shared_ptr<Work>;

}  // namespace iccrt::comm
