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

  // Throws when the memory was released (release_memory) and not restored: a use of such a tensor is a bug of
  // its owner, reported instead of reading freed memory.
  void* data() const {
    if (released_) throw_released();
    return data_;
  }
  size_t nbytes() const { return nbytes_; }
  const Device& device() const { return device_; }
  // Bumped by every in-place write through a Tensor op (copy_, fill_, add_, ...). Autograd records it when it
  // saves a tensor for the backward pass and refuses to use the tensor if it changed (Note [Saved tensors]).
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

  // Frees the memory but keeps the storage (size, device, version, every tensor viewing it); restore_memory()
  // allocates it again with undefined contents. ZeRO stage 3 uses this to drop gathered parameters between uses
  // while the autograd graph still holds tensors that view them (Note [ZeRO-3 parameter storage] in
  // python/iccrt/parallel/zero.py). Only storages that allocated their own memory can be released.
  void release_memory();
  void restore_memory();
  bool is_released() const { return released_; }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  std::function<void(void*)> deleter_;
  std::atomic<uint64_t> version_{0};
  bool owns_memory_ = false;  // allocated by the device allocator (not wrapped NumPy / DLPack memory)
  bool released_ = false;

  [[noreturn]] void throw_released() const;
};

using Storage = std::shared_ptr<StorageImpl>;

}  // namespace iccrt
