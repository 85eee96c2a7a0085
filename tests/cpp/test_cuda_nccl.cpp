// The NCCL backend (src/comm/backends/nccl). Compiled only in CUDA builds.
//
// Everywhere: version() and the argument checks that must fail before any CUDA or NCCL call (dtype, reduce op,
// root, peer, device). With a GPU: a group of one (the broadcast returns its input), every op x dtype against a
// float64 CPU fold of the ranks' inputs, on the auto, ring and tree communicators, in and out of place; Work
// semantics; a peer that never joins (CommTimeout within the timeout, then CommError at once); and two thread-ranks
// on one GPU (NCCL's "duplicate GPU" case: both must finish, consistently, within a bound). GPU tests skip visibly.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "iccrt/comm/types.hpp"
#include "iccrt/core/dtype.hpp"
#include "iccrt/core/half.hpp"
#include "src/comm/backends/nccl/nccl_backend.hpp"
#include "src/core/cuda_runtime.hpp"

#define ICCRT_SKIP_WITHOUT_GPU()                                                                                 \
  if (iccrt::cuda::device_count() == 0)                                                                          \
  GTEST_SKIP() << "no CUDA device: NCCL ops need a GPU (version() and the argument checks ran without one; run " \
                  "on a GPU machine for the rest)"

namespace iccrt::comm {
namespace {

using namespace std::chrono_literals;

const std::vector<DType> kNcclDTypes = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16,
                                        DType::Int32,   DType::Int64,   DType::UInt8};
const std::vector<ReduceOp> kOps = {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Min, ReduceOp::Max, ReduceOp::Avg};

// A group of one: the CPU broadcast hands back what it is given. Counts its calls (one per communicator).
struct Solo {
  std::shared_ptr<int> calls = std::make_shared<int>(0);
  NcclBackend::BroadcastFn fn() {
    auto c = calls;
    return [c](const std::string& mine) {
      ++*c;
      return mine;
    };
  }
};

std::string desc(const char* op, DType t, size_t count, int seq = 1, const char* group = "solo") {
  return std::string(op) + " (" + dtype_name(t) + " x " + std::to_string(count) + ") on group '" + group + "' seq " +
         std::to_string(seq);
}

void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes > 0) cuda_ok(cudaMalloc(&p_, bytes), "cudaMalloc");
  }
  ~DeviceBuffer() {
    if (p_ != nullptr) (void)cudaFree(p_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  char* get() const { return static_cast<char*>(p_); }
  void upload(const std::vector<uint8_t>& host, size_t offset = 0) {
    cuda_ok(cudaMemcpy(get() + offset, host.data(), host.size(), cudaMemcpyHostToDevice), "upload");
  }
  std::vector<uint8_t> download() const {
    std::vector<uint8_t> out(bytes_);
    cuda_ok(cudaMemcpy(out.data(), get(), bytes_, cudaMemcpyDeviceToHost), "download");
    return out;
  }

 private:
  void* p_ = nullptr;
  size_t bytes_;
};

// ---- values and the CPU reference ----

std::vector<double> to_doubles(DType t, const std::vector<uint8_t>& buf) {
  return dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<double> out(buf.size() / sizeof(T));
    for (size_t i = 0; i < out.size(); ++i) {
      T v;
      std::memcpy(&v, buf.data() + i * sizeof(T), sizeof(T));
      if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>)
        out[i] = static_cast<float>(v);
      else
        out[i] = static_cast<double>(v);
    }
    return out;
  });
}

std::vector<uint8_t> from_doubles(DType t, const std::vector<double>& vals) {
  return dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<uint8_t> out(vals.size() * sizeof(T));
    for (size_t i = 0; i < vals.size(); ++i) {
      T v;
      if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>)
        v = T(static_cast<float>(vals[i]));
      else if constexpr (std::is_same_v<T, bool>)
        v = vals[i] != 0.0;
      else
        v = static_cast<T>(vals[i]);
      std::memcpy(out.data() + i * sizeof(T), &v, sizeof(T));
    }
    return out;
  });
}

// Values exactly representable in t; small enough that a product over a few ranks stays exact in integers.
std::vector<uint8_t> random_values(DType t, size_t n, std::mt19937& rng) {
  std::vector<double> v(n);
  for (double& x : v) {
    if (is_floating(t))
      x = 0.25 * std::uniform_int_distribution<int>(-40, 40)(rng);
    else if (t == DType::UInt8)
      x = std::uniform_int_distribution<int>(0, 15)(rng);
    else if (t == DType::Bool)
      x = std::uniform_int_distribution<int>(0, 1)(rng);
    else
      x = std::uniform_int_distribution<int>(-100, 100)(rng);
  }
  return from_doubles(t, v);
}

// Element i of the result: the ranks' values folded with op in float64 (Avg divides by the rank count).
std::vector<double> fold(ReduceOp op, const std::vector<std::vector<double>>& ranks) {
  std::vector<double> out = ranks.at(0);
  for (size_t r = 1; r < ranks.size(); ++r) {
    for (size_t i = 0; i < out.size(); ++i) {
      const double x = ranks[r][i];
      switch (op) {
        case ReduceOp::Sum:
        case ReduceOp::Avg:
          out[i] += x;
          break;
        case ReduceOp::Prod:
          out[i] *= x;
          break;
        case ReduceOp::Min:
          out[i] = std::min(out[i], x);
          break;
        case ReduceOp::Max:
          out[i] = std::max(out[i], x);
          break;
      }
    }
  }
  if (op == ReduceOp::Avg) {
    for (double& v : out) v /= static_cast<double>(ranks.size());
  }
  return out;
}

// 16-bit floats are reduced per step with one rounding each; integers and exactly representable sums are exact.
double tolerance(DType t) {
  switch (t) {
    case DType::Float16:
      return 1e-3;
    case DType::BFloat16:
      return 1e-2;
    default:
      return 0.0;
  }
}

void expect_close(DType t, const std::vector<double>& want, const std::vector<uint8_t>& got_bytes,
                  const std::string& what) {
  const std::vector<double> got = to_doubles(t, got_bytes);
  ASSERT_EQ(got.size(), want.size()) << what;
  const double tol = tolerance(t);
  for (size_t i = 0; i < want.size(); ++i) {
    const double w = to_doubles(t, from_doubles(t, {want[i]}))[0];  // the reference rounded to t once
    ASSERT_LE(std::fabs(got[i] - w), tol * std::max(1.0, std::fabs(w))) << what << " at element " << i;
  }
}

// ---- runs everywhere ----

TEST(NcclVersion, IsTwoDotXDotY) {
  const std::string v = NcclBackend::version();
  int major = -1, minor = -1, patch = -1;
  char tail = 0;
  ASSERT_EQ(std::sscanf(v.c_str(), "%d.%d.%d%c", &major, &minor, &patch, &tail), 3) << "version() = '" << v << "'";
  EXPECT_EQ(major, 2) << v;
  EXPECT_GE(minor, 0) << v;
  EXPECT_GE(patch, 0) << v;
  EXPECT_EQ(v, std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch));
}

// Argument errors are raised before the backend touches CUDA or NCCL, so these need no GPU.
TEST(NcclArgs, RejectedBeforeAnyCudaCall) {
  Solo solo;
  NcclBackend b(0, 1, "solo", 5s, solo.fn());
  const int dev = 0;
  int x = 0;  // never dereferenced: every call below fails its checks first
  void* p = &x;

  const std::string d = desc("all_reduce", DType::Bool, 4);
  try {
    b.all_reduce(p, p, 4, DType::Bool, ReduceOp::Sum, dev, Algorithm::Auto, d);
    FAIL() << "bool all_reduce did not throw";
  } catch (const DTypeError& e) {
    EXPECT_NE(std::string(e.what()).find(d), std::string::npos) << e.what();
  }
  for (DType t : {DType::Int32, DType::Int64, DType::UInt8}) {
    EXPECT_THROW(b.all_reduce(p, p, 4, t, ReduceOp::Avg, dev, Algorithm::Auto, desc("all_reduce", t, 4)), DTypeError)
        << "avg on " << dtype_name(t);
  }
  EXPECT_THROW(b.reduce_scatter(p, p, 4, DType::Bool, ReduceOp::Max, dev, "rs"), DTypeError);
  EXPECT_THROW(b.reduce(p, p, 4, DType::Bool, ReduceOp::Min, 0, dev, "reduce"), DTypeError);

  // Peers: there is no one else in a group of one, and a lone send to oneself could never complete.
  EXPECT_THROW(b.send(p, 4, DType::Float32, 0, dev, "send to self"), ValueError);
  EXPECT_THROW(b.recv(p, 4, DType::Float32, 0, dev, "recv from self"), ValueError);
  EXPECT_THROW(b.send(p, 4, DType::Float32, 1, dev, "send to 1"), ValueError);
  EXPECT_THROW(b.recv(p, 4, DType::Float32, -1, dev, "recv from -1"), ValueError);
  EXPECT_THROW(b.broadcast(p, 4, DType::Float32, 1, dev, "broadcast root 1"), ValueError);
  EXPECT_THROW(b.reduce(p, p, 4, DType::Float32, ReduceOp::Sum, -1, dev, "reduce root -1"), ValueError);

  // A device that does not exist (every device without a GPU).
  const int missing = cuda::device_count();
  EXPECT_THROW(b.all_reduce(p, p, 4, DType::Float32, ReduceOp::Sum, missing, Algorithm::Auto, "ar"), DeviceError);
  EXPECT_THROW(b.all_gather(p, p, 4, DType::Float32, missing, "ag"), DeviceError);
  EXPECT_EQ(*solo.calls, 0) << "no communicator may be created for a rejected op";

  EXPECT_THROW(NcclBackend(1, 1, "bad", 5s, solo.fn()), ValueError);
  EXPECT_THROW(NcclBackend(0, 0, "bad", 5s, solo.fn()), ValueError);
  EXPECT_THROW(NcclBackend(0, 1, "bad", 0ms, solo.fn()), ValueError);
  EXPECT_THROW(NcclBackend(0, 1, "bad", 5s, nullptr), ValueError);
}

// ---- one GPU, a group of one ----

TEST(NcclSingleRank, AllReduceEveryOpDtypeAndAlgorithm) {
  ICCRT_SKIP_WITHOUT_GPU();
  Solo solo;
  NcclBackend b(0, 1, "solo", 60s, solo.fn());
  std::mt19937 rng(7);
  int seq = 0;
  for (Algorithm algo : {Algorithm::Auto, Algorithm::Ring, Algorithm::Tree}) {
    for (DType t : kNcclDTypes) {
      for (ReduceOp op : kOps) {
        for (size_t count : {size_t{1}, size_t{7}, size_t{1031}, size_t{65539}}) {
          for (bool in_place : {false, true}) {
            const std::string d = desc("all_reduce", t, count, ++seq) + " " + to_string(op) + " " + to_string(algo) +
                                  (in_place ? " in place" : "");
            const size_t bytes = count * static_cast<size_t>(itemsize(t));
            const std::vector<uint8_t> host = random_values(t, count, rng);
            DeviceBuffer in(bytes), out(bytes);
            in.upload(host);
            void* dst = in_place ? in.get() : out.get();
            if (op == ReduceOp::Avg && !is_floating(t)) {
              EXPECT_THROW(b.all_reduce(in.get(), dst, count, t, op, 0, algo, d), DTypeError) << d;
              continue;
            }
            WorkPtr w = b.all_reduce(in.get(), dst, count, t, op, 0, algo, d);
            ASSERT_NO_THROW(w->wait()) << d;
            EXPECT_TRUE(w->is_completed()) << d;
            EXPECT_EQ(w->exception(), nullptr) << d;
            expect_close(t, fold(op, {to_doubles(t, host)}), (in_place ? in : out).download(), d);
            if (!in_place) {
              EXPECT_EQ(in.download(), host) << d << ": the input changed";
            }
          }
        }
      }
    }
  }
  // One communicator per algorithm, each made on first use (one broadcast of an ncclUniqueId each). A user's own
  // NCCL_ALGO makes the backend use a single communicator.
  EXPECT_EQ(*solo.calls, std::getenv("NCCL_ALGO") != nullptr ? 1 : 3);
}

TEST(NcclSingleRank, OtherCollectivesAreCopies) {
  ICCRT_SKIP_WITHOUT_GPU();
  Solo solo;
  NcclBackend b(0, 1, "solo", 60s, solo.fn());
  std::mt19937 rng(11);
  for (DType t : kNcclDTypes) {
    for (size_t count : {size_t{1}, size_t{13}, size_t{100003}}) {
      const size_t bytes = count * static_cast<size_t>(itemsize(t));
      const std::vector<uint8_t> host = random_values(t, count, rng);
      for (bool in_place : {false, true}) {
        const std::string how = in_place ? " in place" : "";
        {
          DeviceBuffer in(bytes), out(bytes);
          in.upload(host);
          const std::string d = desc("reduce_scatter", t, count) + how;
          b.reduce_scatter(in.get(), in_place ? in.get() : out.get(), count, t, ReduceOp::Sum, 0, d)->wait();
          EXPECT_EQ((in_place ? in : out).download(), host) << d;
        }
        {
          DeviceBuffer in(bytes), out(bytes);
          in.upload(host);
          const std::string d = desc("all_gather", t, count) + how;
          b.all_gather(in.get(), in_place ? in.get() : out.get(), count, t, 0, d)->wait();
          EXPECT_EQ((in_place ? in : out).download(), host) << d;
        }
        {
          DeviceBuffer in(bytes), out(bytes);
          in.upload(host);
          const std::string d = desc("reduce", t, count) + how;
          b.reduce(in.get(), in_place ? in.get() : out.get(), count, t, ReduceOp::Max, 0, 0, d)->wait();
          EXPECT_EQ((in_place ? in : out).download(), host) << d;
        }
        {
          DeviceBuffer in(bytes), out(bytes);
          in.upload(host);
          const std::string d = desc("all_to_all", t, count) + how;
          b.all_to_all(in.get(), in_place ? in.get() : out.get(), count, t, 0, d)->wait();
          EXPECT_EQ((in_place ? in : out).download(), host) << d;
          EXPECT_EQ(in.download(), host) << d << ": the input changed";
        }
      }
      DeviceBuffer buf(bytes);
      buf.upload(host);
      const std::string d = desc("broadcast", t, count);
      b.broadcast(buf.get(), count, t, 0, 0, d)->wait();
      EXPECT_EQ(buf.download(), host) << d;
    }
  }
  // Data movement carries bool; reductions do not.
  const std::vector<uint8_t> flags = random_values(DType::Bool, 33, rng);
  DeviceBuffer in(33), out(33);
  in.upload(flags);
  b.all_gather(in.get(), out.get(), 33, DType::Bool, 0, desc("all_gather", DType::Bool, 33))->wait();
  EXPECT_EQ(out.download(), flags);
  EXPECT_THROW(b.reduce_scatter(in.get(), out.get(), 33, DType::Bool, ReduceOp::Sum, 0, "rs bool"), DTypeError);
  EXPECT_EQ(*solo.calls, 1) << "everything but ring / tree all_reduce shares one communicator";
}

TEST(NcclSingleRank, WorkSemanticsAndEmptyOps) {
  ICCRT_SKIP_WITHOUT_GPU();
  Solo solo;
  NcclBackend b(0, 1, "solo", 60s, solo.fn());
  // count 0: done at once, nothing created, null pointers allowed.
  WorkPtr empty = b.all_reduce(nullptr, nullptr, 0, DType::Float32, ReduceOp::Sum, 0, Algorithm::Auto, "empty");
  EXPECT_TRUE(empty->is_completed());
  EXPECT_NO_THROW(empty->wait());
  EXPECT_EQ(*solo.calls, 0);
  // A null buffer with a count is a ValueError, not a crash inside NCCL.
  EXPECT_THROW(b.all_reduce(nullptr, nullptr, 4, DType::Float32, ReduceOp::Sum, 0, Algorithm::Auto, "null"),
               ValueError);

  const size_t count = size_t{1} << 22;  // 16 MiB of float32
  std::vector<float> host(count, 1.5f);
  DeviceBuffer buf(count * sizeof(float));
  cuda_ok(cudaMemcpy(buf.get(), host.data(), count * sizeof(float), cudaMemcpyHostToDevice), "upload");
  WorkPtr w = b.all_reduce(buf.get(), buf.get(), count, DType::Float32, ReduceOp::Sum, 0, Algorithm::Auto,
                           desc("all_reduce", DType::Float32, count));
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!w->is_completed()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "is_completed() never became true";
    std::this_thread::sleep_for(100us);
  }
  EXPECT_NO_THROW(w->wait());
  EXPECT_NO_THROW(w->wait()) << "wait() twice";
  EXPECT_EQ(w->exception(), nullptr);
}

TEST(NcclSingleRank, RunsOnTheCurrentStream) {
  ICCRT_SKIP_WITHOUT_GPU();
  Solo solo;
  NcclBackend b(0, 1, "solo", 60s, solo.fn());
  cudaStream_t s = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  cuda::set_current_stream(0, s);
  const size_t count = size_t{1} << 20;
  std::vector<int32_t> host(count);
  for (size_t i = 0; i < count; ++i) host[i] = static_cast<int32_t>(i % 1000) - 500;
  DeviceBuffer in(count * 4), out(count * 4);
  // The upload and the download are queued on s around the op, with no host synchronisation in between.
  cuda_ok(cudaMemcpyAsync(in.get(), host.data(), count * 4, cudaMemcpyHostToDevice, s), "upload");
  WorkPtr w = b.all_reduce(in.get(), out.get(), count, DType::Int32, ReduceOp::Min, 0, Algorithm::Auto, "on s");
  std::vector<int32_t> got(count);
  cuda_ok(cudaMemcpyAsync(got.data(), out.get(), count * 4, cudaMemcpyDeviceToHost, s), "download");
  cuda_ok(cudaStreamSynchronize(s), "sync");
  w->wait();
  cuda::set_current_stream(0, nullptr);
  cuda_ok(cudaStreamDestroy(s), "cudaStreamDestroy");
  EXPECT_EQ(got, host);
}

// Runs f on its own thread and gives up (failing, not hanging) after `limit`.
template <class F>
bool finishes_within(std::chrono::seconds limit, F f) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> fut = done->get_future();
  std::thread([done, f]() mutable {
    f();
    done->set_value();
  }).detach();
  return fut.wait_for(limit) == std::future_status::ready;
}

TEST(NcclFailures, MissingPeerTimesOutThenFailsFast) {
  ICCRT_SKIP_WITHOUT_GPU();
  // Rank 0 of a group of two whose rank 1 never comes: communicator creation must end in CommTimeout.
  auto result = std::make_shared<std::string>();
  const bool finished = finishes_within(120s, [result] {
    Solo solo;
    NcclBackend b(0, 2, "lonely", 2000ms, solo.fn());
    DeviceBuffer buf(64 * sizeof(float));
    const std::string d = desc("all_reduce", DType::Float32, 64, 1, "lonely");
    const auto start = std::chrono::steady_clock::now();
    try {
      b.all_reduce(buf.get(), buf.get(), 64, DType::Float32, ReduceOp::Sum, 0, Algorithm::Auto, d)->wait();
      *result = "no error";
      return;
    } catch (const CommTimeout& e) {
      const auto took = std::chrono::steady_clock::now() - start;
      if (std::string(e.what()).find(d) == std::string::npos) {
        *result = std::string("message does not name the op: ") + e.what();
        return;
      }
      if (took > 60s) {
        *result = "took " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(took).count()) + " s";
        return;
      }
    } catch (const std::exception& e) {
      *result = std::string("wrong exception: ") + e.what();
      return;
    }
    // The group is broken now: the next op fails at once, with the first reason.
    const std::string d2 = desc("all_gather", DType::Float32, 64, 2, "lonely");
    try {
      b.all_gather(buf.get(), buf.get(), 16, DType::Float32, 0, d2)->wait();
      *result = "second op: no error";
    } catch (const CommTimeout& e) {
      *result = std::string("second op timed out again: ") + e.what();
    } catch (const CommError& e) {
      const std::string m = e.what();
      *result = m.find(d2) != std::string::npos && m.find("aborted") != std::string::npos ? "ok" : "second op: " + m;
    }
  });
  ASSERT_TRUE(finished) << "the backend hung on a missing peer";
  EXPECT_EQ(*result, "ok");
}

// The CPU broadcast of ranks that are threads of this process: call k of rank 0 feeds call k of the others.
class ThreadBroadcast {
 public:
  NcclBackend::BroadcastFn fn(int rank) {
    return [this, rank](const std::string& mine) {
      std::unique_lock<std::mutex> lock(mu_);
      const int k = calls_[rank]++;
      if (rank == 0) {
        values_[k] = mine;
        cv_.notify_all();
        return mine;
      }
      if (!cv_.wait_for(lock, 30s, [&] { return values_.count(k) != 0; })) throw CommTimeout("thread broadcast");
      return values_[k];
    };
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, int> calls_;
  std::map<int, std::string> values_;
};

TEST(NcclFailures, TwoRanksOnOneGpuFinishConsistently) {
  ICCRT_SKIP_WITHOUT_GPU();
  // NCCL refuses two ranks of one communicator on the same GPU ("Duplicate GPU detected", an asynchronous init
  // error). Whatever this NCCL does, both ranks must finish within the bound and agree: both CommError, or both a
  // correct sum.
  auto bcast = std::make_shared<ThreadBroadcast>();
  auto outcome = std::make_shared<std::vector<std::string>>(2);
  const bool finished = finishes_within(120s, [bcast, outcome] {
    std::vector<std::thread> ranks;
    for (int r = 0; r < 2; ++r) {
      ranks.emplace_back([r, bcast, outcome] {
        std::string& out = (*outcome)[static_cast<size_t>(r)];
        try {
          NcclBackend b(r, 2, "pair", 20s, bcast->fn(r));
          std::vector<float> host(256, static_cast<float>(r + 1));
          DeviceBuffer buf(host.size() * sizeof(float));
          cuda_ok(cudaMemcpy(buf.get(), host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice), "upload");
          b.all_reduce(buf.get(), buf.get(), host.size(), DType::Float32, ReduceOp::Sum, 0, Algorithm::Auto,
                       desc("all_reduce", DType::Float32, 256, 1, "pair"))
              ->wait();
          cuda_ok(cudaMemcpy(host.data(), buf.get(), host.size() * sizeof(float), cudaMemcpyDeviceToHost), "download");
          out = host == std::vector<float>(256, 3.0f) ? "sum" : "wrong sum";
        } catch (const CommTimeout& e) {
          out = std::string("timeout: ") + e.what();
        } catch (const CommError& e) {
          out = std::string(e.what()).find("pair") != std::string::npos ? "error" : std::string("error: ") + e.what();
        } catch (const std::exception& e) {
          out = std::string("other: ") + e.what();
        }
      });
    }
    for (auto& t : ranks) t.join();
  });
  ASSERT_TRUE(finished) << "two ranks on one GPU hung";
  EXPECT_EQ((*outcome)[0], (*outcome)[1]);
  EXPECT_TRUE((*outcome)[0] == "error" || (*outcome)[0] == "sum") << (*outcome)[0];
}

}  // namespace
}  // namespace iccrt::comm
