#include "iccrt/core/storage.hpp"

#include "iccrt/core/allocator.hpp"
#include <cstdlib>

#include "iccrt/core/error.hpp"

namespace iccrt {

StorageImpl::StorageImpl(size_t nbytes, Device device) : nbytes_(nbytes), device_(device), owns_memory_(true) {
  Allocator* a = allocator_for(device);
  data_ = a->allocate(nbytes);
  deleter_ = [a](void* p) { a->deallocate(p); };
}

StorageImpl::StorageImpl(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), device_(device), deleter_(std::move(deleter)) {}

StorageImpl::~StorageImpl() {
  if (deleter_ && !released_) deleter_(data_);
}

void StorageImpl::release_memory() {
  ICCRT_CHECK_VALUE(owns_memory_, "release_memory: this storage wraps memory owned elsewhere (NumPy, DLPack)");
  if (released_) return;
  deleter_(data_);
  data_ = nullptr;
  released_ = true;
}

void StorageImpl::restore_memory() {
  if (!released_) return;
  Allocator* a = allocator_for(device_);
  data_ = a->allocate(nbytes_);
  deleter_ = [a](void* p) { a->deallocate(p); };
  released_ = false;
}

void StorageImpl::throw_released() const {
  ICCRT_CHECK_VALUE(false, "this tensor's memory was released (a ZeRO-3 parameter used outside the forward / "
                    "backward of the module that gathers it?); restore it before use");
  std::abort();
}

}  // namespace iccrt
