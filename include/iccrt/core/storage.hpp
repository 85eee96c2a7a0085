#pragma once
// Storage: a reference-counted block of device memory. Tensors are views (shape, strides, offset) into one.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "iccrt/core/device.hpp"
#include "iccrt/core/export.hpp"

namespace iccrt {

class ICCRT_API StorageImpl {
 public:
  // Allocates `nbytes` on `device` with its allocator.
  StorageImpl(size_t nbytes, Device device);
  // Wraps memory owned elsewhere (NumPy arrays, DLPack); `deleter` runs when the last reference goes.
  StorageImpl(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~StorageImpl();
  StorageImpl(const StorageImpl&) = delete;
  StorageImpl& operator=(const StorageImpl&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  const Device& device() const { return device_; }
  // Bumped by every in-place write through a Tensor op (copy_, fill_, add_, ...). Autograd records it when it
  // saves a tensor for the backward pass and refuses to use the tensor if it changed (Note [Saved tensors]).
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  std::function<void(void*)> deleter_;
  std::atomic<uint64_t> version_{0};
};

using Storage = std::shared_ptr<StorageImpl>;

}  // namespace iccrt
