// Note [Caching allocator design]
// cudaMalloc/cudaFree are slow and cudaFree synchronises the device, so freed blocks are kept and reused.
// - Sizes are binned (round_size): 512-byte steps below 1 MiB, then four bins per power of two, so a block
//   freed by one tensor fits the next tensor of a similar size. A request takes the smallest cached block of
//   at least its bin and at most ~25% larger; blocks are never split (simple, and fragmentation stays bounded
//   by the bin width).
// - Blocks belong to the stream they were allocated on and are reused only there: work queued on one stream
//   runs in order, so a block freed (in host order) after its last kernel was queued is safe to hand to the
//   next kernel on the same stream without synchronising.
// - A block also used on other streams (record_stream) waits until events recorded on those streams at free
//   time complete before it returns to the cache.
// - When the device is out of memory, the cache is returned to the device and the allocation retried once.
#include "iccrt/core/caching_allocator.hpp"

#include <algorithm>

#include "iccrt/core/error.hpp"
#include "src/core/cuda_runtime.hpp"

namespace iccrt {

CachingAllocator::CachingAllocator(std::unique_ptr<CachingBackend> backend, std::string device_name)
    : backend_(std::move(backend)), device_name_(std::move(device_name)) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& b : pending_) {
    for (EventHandle e : b.pending) backend_->destroy_event(e);
    backend_->raw_free(b.ptr);
  }
  pending_.clear();
  free_cached_locked();
  // Blocks still handed out are not freed: their owners may outlive the allocator at process exit.
}

size_t CachingAllocator::round_size(size_t n) {
  constexpr size_t kSmall = 512, kLarge = 1 << 20;
  if (n == 0) return kSmall;
  if (n < kLarge) return (n + kSmall - 1) / kSmall * kSmall;
  size_t p = size_t{1} << (63 - __builtin_clzll(n));  // largest power of two <= n
  const size_t step = p / 4;
  return (n + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t nbytes) { return allocate_on(nbytes, backend_->current_stream()); }

void* CachingAllocator::allocate_on(size_t nbytes, StreamHandle stream) {
  std::lock_guard<std::mutex> lk(mu_);
  return alloc_locked(round_size(nbytes), stream);
}

void* CachingAllocator::alloc_locked(size_t size, StreamHandle stream) {
  process_pending_locked();
  auto& pool = free_[stream];
  auto it = pool.lower_bound(size);
  if (it != pool.end() && it->first <= size + size / 4) {
    Block b = std::move(it->second);
    pool.erase(it);
    b.uses.clear();
    void* p = b.ptr;
    stats_.allocated_bytes += static_cast<int64_t>(b.size);
    stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
    stats_.num_cache_hits++;
    active_.emplace(p, std::move(b));
    return p;
  }
  void* p = backend_->raw_alloc(size);
  if (p == nullptr) {
    stats_.num_ooms++;
    free_cached_locked();
    p = backend_->raw_alloc(size);
    if (p == nullptr) {
      stats_.num_ooms++;
      ICCRT_CHECK(false, device_name_, " out of memory: tried to allocate ", size, " bytes with ",
                  stats_.allocated_bytes, " bytes allocated by iccrt and ", stats_.reserved_bytes,
                  " bytes reserved (the cache was emptied and the allocation retried)");
    }
  }
  stats_.num_device_allocs++;
  stats_.reserved_bytes += static_cast<int64_t>(size);
  stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
  stats_.allocated_bytes += static_cast<int64_t>(size);
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  active_.emplace(p, Block{p, size, stream, {}, {}});
  return p;
}

void CachingAllocator::deallocate(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lk(mu_);
  auto it = active_.find(ptr);
  ICCRT_CHECK(it != active_.end(), device_name_, " allocator: free of pointer ", ptr,
              " that it did not allocate (or already freed)");
  Block b = std::move(it->second);
  active_.erase(it);
  stats_.allocated_bytes -= static_cast<int64_t>(b.size);
  if (b.uses.empty()) {
    free_[b.stream].emplace(b.size, std::move(b));
    return;
  }
  for (StreamHandle s : b.uses) b.pending.push_back(backend_->record_event(s));
  pending_.push_back(std::move(b));
}

void CachingAllocator::record_stream(void* ptr, StreamHandle stream) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = active_.find(ptr);
  ICCRT_CHECK(it != active_.end(), device_name_, " allocator: record_stream on pointer ", ptr,
              " that it did not allocate");
  Block& b = it->second;
  if (stream == b.stream) return;
  if (std::find(b.uses.begin(), b.uses.end(), stream) == b.uses.end()) b.uses.push_back(stream);
}

void CachingAllocator::process_pending_locked() {
  for (size_t i = 0; i < pending_.size();) {
    Block& b = pending_[i];
    const bool done = std::all_of(b.pending.begin(), b.pending.end(),
                                  [&](EventHandle e) { return backend_->event_done(e); });
    if (!done) {
      ++i;
      continue;
    }
    for (EventHandle e : b.pending) backend_->destroy_event(e);
    b.pending.clear();
    b.uses.clear();
    free_[b.stream].emplace(b.size, std::move(b));
    if (i + 1 != pending_.size()) pending_[i] = std::move(pending_.back());
    pending_.pop_back();
  }
}

void CachingAllocator::free_cached_locked() {
  process_pending_locked();
  for (auto& [stream, pool] : free_) {
    for (auto& [size, b] : pool) {
      backend_->raw_free(b.ptr);
      stats_.reserved_bytes -= static_cast<int64_t>(size);
      stats_.num_device_frees++;
    }
    pool.clear();
  }
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lk(mu_);
  free_cached_locked();
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

void CachingAllocator::reset_peak_stats() {
  std::lock_guard<std::mutex> lk(mu_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
}

CachingAllocator* cuda_caching_allocator(int index) {
  static std::mutex mu;
  static std::vector<CachingAllocator*> allocators;  // never freed: tensors may be released at process exit
  const int n = cuda::device_count();
  ICCRT_CHECK_DEVICE(index >= 0 && index < n, "CUDA device ", index, " is not available (",
                     cuda_compiled() ? std::to_string(n) + " CUDA devices found" : "iccrt was built without CUDA",
                     ")");
  std::lock_guard<std::mutex> lk(mu);
  if (allocators.empty()) allocators.resize(n, nullptr);
  if (!allocators[index])
    allocators[index] = new CachingAllocator(cuda::make_caching_backend(index), "cuda:" + std::to_string(index));
  return allocators[index];
}

}  // namespace iccrt
