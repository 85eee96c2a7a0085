// CachingAllocator against a fake, malloc-based backend whose events the test completes by hand; and the CPU
// allocator's alignment promises.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "iccrt/core/allocator.hpp"
#include "iccrt/core/caching_allocator.hpp"
#include "iccrt/core/error.hpp"

namespace iccrt {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

// What the fake backend did; shared with the test so it can be read after the allocator is gone.
struct BackendLog {
  int64_t allocs = 0, frees = 0, failed_allocs = 0;
  size_t capacity = SIZE_MAX, in_use = 0;
  std::map<void*, size_t> live;
  struct Event {
    StreamHandle stream;
    bool done = false, destroyed = false;
  };
  std::vector<Event> events;
  StreamHandle current = nullptr;
};

class FakeBackend : public CachingBackend {
 public:
  explicit FakeBackend(std::shared_ptr<BackendLog> log) : log_(std::move(log)) {}
  ~FakeBackend() override {
    for (auto& [p, n] : log_->live) std::free(p);  // blocks the allocator leaked (still handed out)
  }
  void* raw_alloc(size_t n) override {
    if (n > log_->capacity - log_->in_use) {
      log_->failed_allocs++;
      return nullptr;
    }
    void* p = std::malloc(n);
    log_->live[p] = n;
    log_->in_use += n;
    log_->allocs++;
    return p;
  }
  void raw_free(void* p) override {
    auto it = log_->live.find(p);
    ASSERT_NE(it, log_->live.end()) << "raw_free of a pointer the backend did not hand out";
    log_->in_use -= it->second;
    log_->live.erase(it);
    log_->frees++;
    std::free(p);
  }
  EventHandle record_event(StreamHandle s) override {
    log_->events.push_back({s});
    return reinterpret_cast<EventHandle>(static_cast<uintptr_t>(log_->events.size()));  // 1-based, never null
  }
  bool event_done(EventHandle e) override { return ev(e).done; }
  void destroy_event(EventHandle e) override {
    EXPECT_FALSE(ev(e).destroyed) << "event destroyed twice";
    ev(e).destroyed = true;
  }
  StreamHandle current_stream() override { return log_->current; }

 private:
  BackendLog::Event& ev(EventHandle e) { return log_->events.at(reinterpret_cast<uintptr_t>(e) - 1); }
  std::shared_ptr<BackendLog> log_;
};

StreamHandle stream(int i) { return reinterpret_cast<StreamHandle>(static_cast<uintptr_t>(0x1000 * i)); }

class CachingAllocatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log = std::make_shared<BackendLog>();
    alloc = std::make_unique<CachingAllocator>(std::make_unique<FakeBackend>(log), "fakedev");
  }
  std::shared_ptr<BackendLog> log;
  std::unique_ptr<CachingAllocator> alloc;
};

TEST(CachingAllocatorRoundSize, Bins) {
  EXPECT_EQ(CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CachingAllocator::round_size(512), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::round_size(1000), 1024u);
  EXPECT_EQ(CachingAllocator::round_size(kMiB - 1), kMiB);
  EXPECT_EQ(CachingAllocator::round_size(kMiB), kMiB);
  EXPECT_EQ(CachingAllocator::round_size(kMiB + 1), kMiB + kMiB / 4);
  EXPECT_EQ(CachingAllocator::round_size(kMiB + kMiB / 4), kMiB + kMiB / 4);
  EXPECT_EQ(CachingAllocator::round_size(kMiB + kMiB / 4 + 1), kMiB + kMiB / 2);
  EXPECT_EQ(CachingAllocator::round_size(kMiB * 7 / 4 + 1), 2 * kMiB);
  EXPECT_EQ(CachingAllocator::round_size(3 * kMiB), 3 * kMiB);
  EXPECT_EQ(CachingAllocator::round_size(3 * kMiB + 1), 3 * kMiB + kMiB / 2);
  EXPECT_EQ(CachingAllocator::round_size(7 * kMiB + 1), 8 * kMiB);
  EXPECT_EQ(CachingAllocator::round_size(size_t{5} << 30), size_t{5} << 30);
  EXPECT_EQ(CachingAllocator::round_size((size_t{5} << 30) + 1), size_t{6} << 30);

  // Properties over random sizes: never smaller, aligned to the bin step, less than one step of waste.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const size_t n = 1 + rng() % (size_t{1} << (1 + rng() % 36));
    const size_t r = CachingAllocator::round_size(n);
    size_t step = 512;
    if (n >= kMiB) {
      size_t p = 1;
      while (p * 2 <= n) p *= 2;
      step = p / 4;
    }
    ASSERT_GE(r, n);
    ASSERT_EQ(r % step, 0u) << n;
    ASSERT_LT(r - n, step) << n;
  }
}

TEST_F(CachingAllocatorTest, ReusesFreedBlockOfSameBin) {
  void* p = alloc->allocate_on(1000, stream(1));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(log->allocs, 1);
  EXPECT_EQ(log->live.at(p), 1024u);  // the device allocation has the binned size
  alloc->deallocate(p);
  EXPECT_EQ(log->frees, 0);                      // cached, not returned to the device
  void* q = alloc->allocate_on(600, stream(1));  // same 1024-byte bin
  EXPECT_EQ(q, p);
  EXPECT_EQ(log->allocs, 1);
  EXPECT_EQ(alloc->stats().num_cache_hits, 1);
  EXPECT_EQ(alloc->stats().num_device_allocs, 1);
  alloc->deallocate(q);
}

TEST_F(CachingAllocatorTest, SmallerCachedBlockDoesNotServeLargerRequest) {
  void* p = alloc->allocate_on(1024, stream(1));
  alloc->deallocate(p);
  void* q = alloc->allocate_on(4096, stream(1));
  EXPECT_NE(q, p);
  EXPECT_EQ(log->allocs, 2);
  EXPECT_GE(log->live.at(q), 4096u);
  alloc->deallocate(q);
}

TEST_F(CachingAllocatorTest, BlocksStayOnTheirStream) {
  void* a = alloc->allocate_on(kMiB, stream(1));
  alloc->deallocate(a);
  void* b = alloc->allocate_on(kMiB, stream(2));  // must not get stream 1's block
  EXPECT_NE(b, a);
  EXPECT_EQ(log->allocs, 2);
  void* a2 = alloc->allocate_on(kMiB, stream(1));
  EXPECT_EQ(a2, a);
  EXPECT_EQ(log->allocs, 2);
  alloc->deallocate(b);
  alloc->deallocate(a2);
}

TEST_F(CachingAllocatorTest, AllocateUsesBackendCurrentStream) {
  log->current = stream(3);
  void* p = alloc->allocate(5000);
  alloc->deallocate(p);
  EXPECT_NE(alloc->allocate_on(5000, stream(4)), p);
  EXPECT_EQ(alloc->allocate_on(5000, stream(3)), p);
}

TEST_F(CachingAllocatorTest, RecordStreamDelaysReuseUntilEventCompletes) {
  void* p = alloc->allocate_on(4096, stream(1));
  alloc->record_stream(p, stream(2));
  alloc->deallocate(p);
  ASSERT_EQ(log->events.size(), 1u);  // an event on the other stream, recorded at free time
  EXPECT_EQ(log->events[0].stream, stream(2));

  void* q = alloc->allocate_on(4096, stream(1));  // the event is pending: p must not come back
  EXPECT_NE(q, p);
  EXPECT_EQ(log->allocs, 2);
  alloc->empty_cache();  // p is still in use on stream 2: not freed
  EXPECT_EQ(log->live.count(p), 1u);

  log->events[0].done = true;
  void* r = alloc->allocate_on(4096, stream(1));
  EXPECT_EQ(r, p);
  EXPECT_EQ(log->allocs, 2);
  EXPECT_TRUE(log->events[0].destroyed);

  // Once reused, the old record_stream does not carry over: a plain free caches it again without an event.
  alloc->deallocate(r);
  EXPECT_EQ(log->events.size(), 1u);
  EXPECT_EQ(alloc->allocate_on(4096, stream(1)), p);
  alloc->deallocate(p);
  alloc->deallocate(q);
}

TEST_F(CachingAllocatorTest, RecordStreamOnOwnStreamNeedsNoEvent) {
  void* p = alloc->allocate_on(4096, stream(1));
  alloc->record_stream(p, stream(1));
  alloc->deallocate(p);
  EXPECT_TRUE(log->events.empty());
  EXPECT_EQ(alloc->allocate_on(4096, stream(1)), p);
}

TEST_F(CachingAllocatorTest, StatsTrackAllocatedReservedAndPeak) {
  void* a = alloc->allocate_on(1000, nullptr);  // 1024
  void* b = alloc->allocate_on(3000, nullptr);  // 3072
  AllocatorStats s = alloc->stats();
  EXPECT_EQ(s.allocated_bytes, 4096);
  EXPECT_EQ(s.reserved_bytes, 4096);
  EXPECT_EQ(s.peak_allocated_bytes, 4096);
  EXPECT_EQ(s.peak_reserved_bytes, 4096);
  EXPECT_EQ(s.num_device_allocs, 2);

  alloc->deallocate(a);
  s = alloc->stats();
  EXPECT_EQ(s.allocated_bytes, 3072);
  EXPECT_EQ(s.reserved_bytes, 4096);  // cached blocks stay reserved
  EXPECT_EQ(s.peak_allocated_bytes, 4096);

  alloc->empty_cache();
  s = alloc->stats();
  EXPECT_EQ(s.reserved_bytes, 3072);
  EXPECT_EQ(s.num_device_frees, 1);
  EXPECT_EQ(log->frees, 1);
  EXPECT_EQ(log->live.count(a), 0u);
  EXPECT_EQ(log->live.count(b), 1u);  // handed out: untouched

  alloc->reset_peak_stats();
  s = alloc->stats();
  EXPECT_EQ(s.peak_allocated_bytes, 3072);
  EXPECT_EQ(s.peak_reserved_bytes, 3072);
  alloc->deallocate(b);
  EXPECT_EQ(alloc->stats().allocated_bytes, 0);
}

TEST_F(CachingAllocatorTest, EmptyCacheReturnsEverythingCached) {
  std::vector<void*> ps;
  for (size_t n : {512u, 4096u, 70000u, 3u << 20}) ps.push_back(alloc->allocate_on(n, stream(1 + ps.size() % 2)));
  for (void* p : ps) alloc->deallocate(p);
  EXPECT_EQ(log->frees, 0);
  alloc->empty_cache();
  EXPECT_EQ(log->frees, 4);
  EXPECT_TRUE(log->live.empty());
  EXPECT_EQ(alloc->stats().reserved_bytes, 0);
}

TEST_F(CachingAllocatorTest, DestructorReturnsCache) {
  void* p = alloc->allocate_on(2 * kMiB, nullptr);
  alloc->deallocate(p);
  alloc.reset();
  EXPECT_TRUE(log->live.empty());
}

TEST_F(CachingAllocatorTest, OutOfMemoryEmptiesCacheAndRetries) {
  log->capacity = 4 * kMiB;
  void* a = alloc->allocate_on(2 * kMiB, nullptr);
  alloc->deallocate(a);  // cached: 2 MiB reserved, 0 allocated
  // 3 MiB does not fit next to the cached 2 MiB: the cache must be released and the allocation retried.
  void* b = nullptr;
  ASSERT_NO_THROW(b = alloc->allocate_on(3 * kMiB, nullptr));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(log->frees, 1);
  EXPECT_EQ(log->failed_allocs, 1);
  AllocatorStats s = alloc->stats();
  EXPECT_EQ(s.num_ooms, 1);
  EXPECT_EQ(s.reserved_bytes, static_cast<int64_t>(3 * kMiB));

  // Nothing left to release: a real out-of-memory error naming the size and the allocator's state.
  try {
    alloc->allocate_on(2 * kMiB, nullptr);
    ADD_FAILURE() << "expected an out-of-memory error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("2097152"), std::string::npos) << msg;  // the request
    EXPECT_NE(msg.find("3145728"), std::string::npos) << msg;  // allocated / reserved bytes
    EXPECT_NE(msg.find("fakedev"), std::string::npos) << msg;
  }
  EXPECT_GE(alloc->stats().num_ooms, 2);
  EXPECT_EQ(alloc->stats().allocated_bytes, static_cast<int64_t>(3 * kMiB));
  alloc->deallocate(b);
}

TEST_F(CachingAllocatorTest, UnknownPointerAndDoubleFreeRaise) {
  int x = 0;
  EXPECT_THROW(alloc->deallocate(&x), Error);
  void* p = alloc->allocate_on(100, nullptr);
  alloc->deallocate(p);
  EXPECT_THROW(alloc->deallocate(p), Error);
  EXPECT_THROW(alloc->record_stream(&x, stream(1)), Error);
}

TEST_F(CachingAllocatorTest, ConcurrentUse) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      std::mt19937 rng(t);
      std::vector<void*> held;
      for (int i = 0; i < 2000; ++i) {
        if (held.size() < 8 && rng() % 2) {
          held.push_back(alloc->allocate_on(512 * (1 + rng() % 16), stream(1 + t % 2)));
          *static_cast<char*>(held.back()) = static_cast<char>(i);
        } else if (!held.empty()) {
          alloc->deallocate(held.back());
          held.pop_back();
        }
      }
      for (void* p : held) alloc->deallocate(p);
    });
  }
  for (auto& th : threads) th.join();
  const AllocatorStats s = alloc->stats();
  EXPECT_EQ(s.allocated_bytes, 0);
  EXPECT_GT(s.num_cache_hits, 0);
  EXPECT_EQ(s.reserved_bytes, static_cast<int64_t>(log->in_use));
}

TEST(CpuAllocator, AlignedAndNeverNull) {
  Allocator* a = cpu_allocator();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(allocator_for(Device(DeviceType::CPU)), a);
  std::set<void*> zero_sized;
  for (size_t n : {0u, 0u, 1u, 3u, 64u, 1000u, 1u << 20}) {
    void* p = a->allocate(n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << n;
    if (n == 0) {
      EXPECT_TRUE(zero_sized.insert(p).second) << "zero-byte allocations must be unique";
    } else {
      static_cast<char*>(p)[n - 1] = 1;
      a->deallocate(p);
    }
  }
  for (void* p : zero_sized) a->deallocate(p);
}

}  // namespace
}  // namespace iccrt
