#include "iccrt/core/storage.hpp"

#include "iccrt/core/allocator.hpp"

namespace iccrt {

StorageImpl::StorageImpl(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  Allocator* a = allocator_for(device);
  data_ = a->allocate(nbytes);
  deleter_ = [a](void* p) { a->deallocate(p); };
}

StorageImpl::StorageImpl(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), device_(device), deleter_(std::move(deleter)) {}

StorageImpl::~StorageImpl() {
  if (deleter_) deleter_(data_);
}

}  // namespace iccrt
