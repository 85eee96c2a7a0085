#pragma once
// Runs ranks of a real ProcessGroup as threads of this process (shared memory works between threads exactly as
// between processes), each with its own group object over one HashStore.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "iccrt/comm/process_group.hpp"
#include "iccrt/core/half.hpp"

namespace iccrt::test {

using comm::ProcessGroup;
using comm::ProcessGroupOptions;

inline std::string unique_group_name(const char* base) {
  static std::atomic<int> n{0};
  return std::string(base) + "-" + std::to_string(n++);
}

// fn(pg) runs on every rank; the first exception (by rank) is rethrown after all threads joined.
// hosts (optional): topology host per rank, to exercise hierarchical algorithms on one machine.
inline void run_group(int n, const std::function<void(ProcessGroup&)>& fn, ProcessGroupOptions opts = {},
                      const std::vector<std::string>& hosts = {}) {
  auto store = std::make_shared<comm::HashStore>();
  if (opts.name.empty()) opts.name = unique_group_name("g");
  if (opts.timeout == comm::default_timeout()) opts.timeout = std::chrono::seconds(20);
  std::vector<std::exception_ptr> errs(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      try {
        ProcessGroupOptions o = opts;
        if (!hosts.empty()) o.host_id = hosts[r];
        auto pg = ProcessGroup::create(r, n, store, o);
        fn(*pg);
      } catch (...) {
        errs[r] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  // Report every rank's error: the first one by rank is often only the echo of another rank's failure.
  std::string all;
  std::exception_ptr first;
  for (int r = 0; r < n; ++r) {
    if (!errs[r]) continue;
    if (!first) first = errs[r];
    try {
      std::rethrow_exception(errs[r]);
    } catch (const std::exception& e) {
      all += "\n  rank " + std::to_string(r) + ": " + e.what();
    }
  }
  if (first && n > 1) ADD_FAILURE() << "errors by rank:" << all;
  if (first) std::rethrow_exception(first);
}

// Values stored in a buffer of any reducible dtype.
inline void store_value(DType dt, void* buf, size_t i, double v) {
  switch (dt) {
    case DType::Float32:
      static_cast<float*>(buf)[i] = static_cast<float>(v);
      break;
    case DType::Float64:
      static_cast<double*>(buf)[i] = v;
      break;
    case DType::Float16:
      static_cast<uint16_t*>(buf)[i] = detail::float_to_half_bits(static_cast<float>(v));
      break;
    case DType::BFloat16:
      static_cast<uint16_t*>(buf)[i] = detail::float_to_bf16_bits(static_cast<float>(v));
      break;
    case DType::Int32:
      static_cast<int32_t*>(buf)[i] = static_cast<int32_t>(v);
      break;
    case DType::Int64:
      static_cast<int64_t*>(buf)[i] = static_cast<int64_t>(v);
      break;
    case DType::UInt8:
      static_cast<uint8_t*>(buf)[i] = static_cast<uint8_t>(v);
      break;
    default:
      FAIL() << "unsupported dtype";
  }
}

inline double load_value(DType dt, const void* buf, size_t i) {
  switch (dt) {
    case DType::Float32:
      return static_cast<const float*>(buf)[i];
    case DType::Float64:
      return static_cast<const double*>(buf)[i];
    case DType::Float16:
      return detail::half_bits_to_float(static_cast<const uint16_t*>(buf)[i]);
    case DType::BFloat16:
      return detail::bf16_bits_to_float(static_cast<const uint16_t*>(buf)[i]);
    case DType::Int32:
      return static_cast<const int32_t*>(buf)[i];
    case DType::Int64:
      return static_cast<double>(static_cast<const int64_t*>(buf)[i]);
    case DType::UInt8:
      return static_cast<const uint8_t*>(buf)[i];
    default:
      return 0;
  }
}

// Deterministic, never-zero input of rank r, element i: small integers for int dtypes, values in [0.5, 1.5)
// for floats (products stay near 1), distinct across ranks.
inline double input_value(DType dt, int r, size_t i) {
  const uint64_t h = (static_cast<uint64_t>(r) * 1000003u + i * 7919u) % 1009u;
  if (dt == DType::Int32 || dt == DType::Int64 || dt == DType::UInt8) return static_cast<double>(1 + h % 5);
  return 0.5 + static_cast<double>(h) / 1009.0;
}

inline double tolerance(DType dt, int n) {
  switch (dt) {
    case DType::Float16:
      return 2e-3 * n;
    case DType::BFloat16:
      return 1.6e-2 * n;
    case DType::Float32:
      return 2e-6 * n;
    default:
      return 1e-12;
  }
}

}  // namespace iccrt::test
