#pragma once
// Caching device allocator: keeps freed blocks and hands them out again instead of calling the (slow,
// synchronising) device malloc/free each time. See Note [Caching allocator design] in caching_allocator.cpp.
//
// The caching logic is written against a small Backend interface so that it is tested on machines without a GPU;
// the CUDA backend (cudaMalloc / cudaFree / cudaEvent) lives in src/core/cuda/.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "iccrt/core/allocator.hpp"
#include "iccrt/core/export.hpp"

namespace iccrt {

using StreamHandle = void*;  // cudaStream_t for CUDA; nullptr is the default stream
using EventHandle = void*;

class ICCRT_API CachingBackend {
 public:
  virtual ~CachingBackend() = default;
  virtual void* raw_alloc(size_t nbytes) = 0;  // returns nullptr when the device is out of memory
  virtual void raw_free(void* ptr) = 0;
  // Records an event on `stream`; event_done says whether all work queued before it has finished.
  virtual EventHandle record_event(StreamHandle stream) = 0;
  virtual bool event_done(EventHandle e) = 0;
  virtual void destroy_event(EventHandle e) = 0;
  virtual StreamHandle current_stream() = 0;
};

struct AllocatorStats {
  int64_t allocated_bytes = 0;       // bytes in blocks handed out now (rounded to the bin size)
  int64_t reserved_bytes = 0;        // bytes obtained from the device (handed out + cached)
  int64_t peak_allocated_bytes = 0;  // since construction or reset_peak_stats()
  int64_t peak_reserved_bytes = 0;
  int64_t num_device_allocs = 0;     // raw_alloc calls that succeeded
  int64_t num_device_frees = 0;
  int64_t num_cache_hits = 0;        // allocations served from the cache
  int64_t num_ooms = 0;              // times raw_alloc failed (before or after emptying the cache)
};

class ICCRT_API CachingAllocator : public Allocator {
 public:
  explicit CachingAllocator(std::unique_ptr<CachingBackend> backend, std::string device_name = "device");
  ~CachingAllocator() override;

  // The size a request is served with: 512-byte granularity below 1 MiB, then four bins per power of two.
  static size_t round_size(size_t nbytes);

  void* allocate(size_t nbytes) override;  // on the backend's current stream
  void* allocate_on(size_t nbytes, StreamHandle stream);
  void deallocate(void* ptr) override;
  // The block is also used on `stream`: it is not reused until the work queued there at free time is done.
  void record_stream(void* ptr, StreamHandle stream);
  // Returns every cached block whose pending uses have finished to the device.
  void empty_cache();
  AllocatorStats stats() const;
  void reset_peak_stats();

 private:
  struct Block {
    void* ptr;
    size_t size;
    StreamHandle stream;                  // the stream it was allocated on; reused only there
    std::vector<StreamHandle> uses;       // other streams recorded with record_stream
    std::vector<EventHandle> pending;     // events that must complete before reuse
  };
  void* alloc_locked(size_t size, StreamHandle stream);
  void process_pending_locked();
  void free_cached_locked();

  std::unique_ptr<CachingBackend> backend_;
  std::string device_name_;
  mutable std::mutex mu_;
  std::unordered_map<void*, Block> active_;                    // handed out
  std::map<StreamHandle, std::multimap<size_t, Block>> free_;  // cached, per stream, by size
  std::vector<Block> pending_;                                 // freed, waiting on events
  AllocatorStats stats_;
};

// The process-wide CUDA caching allocator for device `index` (DeviceError when CUDA is not available).
ICCRT_API CachingAllocator* cuda_caching_allocator(int index);

}  // namespace iccrt
