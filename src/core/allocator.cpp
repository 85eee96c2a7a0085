#include "iccrt/core/allocator.hpp"

#include <cstdlib>
#include <new>

#include "iccrt/core/caching_allocator.hpp"
#include "iccrt/core/error.hpp"

namespace iccrt {
namespace {

constexpr size_t kCpuAlignment = 64;

class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    // aligned_alloc needs a multiple of the alignment; zero-byte tensors still get a unique pointer.
    const size_t rounded = (nbytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    void* p = std::aligned_alloc(kCpuAlignment, rounded ? rounded : kCpuAlignment);
    ICCRT_CHECK(p != nullptr, "out of host memory: could not allocate ", nbytes, " bytes");
    return p;
  }
  void deallocate(void* ptr) override { std::free(ptr); }
};

}  // namespace

Allocator* cpu_allocator() {
  static CpuAllocator a;
  return &a;
}

Allocator* allocator_for(const Device& d) {
  if (d.is_cpu()) return cpu_allocator();
  return cuda_caching_allocator(d.index);
}

}  // namespace iccrt
