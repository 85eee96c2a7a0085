#pragma once
// Allocators hand out raw device memory; Storage owns it and returns it through the allocator.
#include <cstddef>
#include <cstdint>

#include "iccrt/core/device.hpp"
#include "iccrt/core/export.hpp"

namespace iccrt {

class ICCRT_API Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;  // never returns null for nbytes > 0: raises instead
  virtual void deallocate(void* ptr) = 0;
};

// 64-byte aligned host memory (one cache line; also what AVX-512 loads want). Zero-byte requests get a
// valid unique pointer so every tensor has a non-null data pointer.
ICCRT_API Allocator* cpu_allocator();

// The allocator for a device: the CPU allocator, or the CUDA caching allocator for that ordinal.
ICCRT_API Allocator* allocator_for(const Device& d);

}  // namespace iccrt
