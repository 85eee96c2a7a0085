// Failure paths of ProcessGroup with ranks as threads: nothing hangs, every error names who and what.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/cpp/comm_group_harness.hpp"

namespace iccrt::test {
namespace {

using comm::Algorithm;
using comm::CommError;
using comm::CommTimeout;
using comm::ReduceOp;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Rank 2 skips the second collective and stays alive: the others time out, naming it, the op and the seq.
TEST(CommFailure, SkippedCollectiveTimesOutNamingTheRank) {
  for (Algorithm a : {Algorithm::Direct, Algorithm::Ring}) {
    ProcessGroupOptions o;
    o.timeout = std::chrono::milliseconds(800);
    o.name = unique_group_name("skip");
    run_group(
        3,
        [&](ProcessGroup& pg) {
          std::vector<float> x(1000, 1.f);
          pg.all_reduce(x.data(), x.data(), x.size(), DType::Float32, ReduceOp::Sum, {a})->wait();
          if (pg.rank() == 2) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // alive, but never calls
            return;
          }
          const auto t0 = Clock::now();
          try {
            pg.all_reduce(x.data(), x.data(), x.size(), DType::Float32, ReduceOp::Sum, {a})->wait();
            ADD_FAILURE() << "expected a timeout";
          } catch (const CommTimeout& e) {
            const std::string m = e.what();
            EXPECT_NE(m.find("all_reduce"), std::string::npos) << m;
            EXPECT_NE(m.find(o.name), std::string::npos) << m;
            EXPECT_NE(m.find("seq 2"), std::string::npos) << m;
            EXPECT_NE(m.find("did not arrive: 2"), std::string::npos) << m;
            EXPECT_LT(seconds_since(t0), 2.0);
          }
          // The group is unusable now, and says why.
          try {
            pg.barrier()->wait();
            ADD_FAILURE() << "expected the group to be poisoned";
          } catch (const CommError& e) {
            EXPECT_NE(std::string(e.what()).find("earlier failure"), std::string::npos) << e.what();
          }
          EXPECT_NE(pg.flight_record().find("FAILED"), std::string::npos) << pg.flight_record();
        },
        o);
  }
}

// Rank 1 leaves (its group object is destroyed) after one op: peers fail at once, not at the timeout.
TEST(CommFailure, RankThatLeavesFailsPeersFast) {
  ProcessGroupOptions o;
  o.timeout = std::chrono::seconds(30);
  run_group(
      3,
      [&](ProcessGroup& pg) {
        std::vector<double> x(64, 1.0);
        pg.all_reduce(x.data(), x.data(), x.size(), DType::Float64, ReduceOp::Sum)->wait();
        if (pg.rank() == 1) {
          pg.shutdown();
          return;
        }
        const auto t0 = Clock::now();
        try {
          pg.all_reduce(x.data(), x.data(), x.size(), DType::Float64, ReduceOp::Sum)->wait();
          ADD_FAILURE() << "expected an error";
        } catch (const CommError& e) {
          EXPECT_NE(std::string(e.what()).find("rank 1"), std::string::npos) << e.what();
          EXPECT_NE(std::string(e.what()).find("left"), std::string::npos) << e.what();
        }
        EXPECT_LT(seconds_since(t0), 5.0);
      },
      o);
}

// Ranks that disagree on the count: an error on every rank, with or without ICCRT_DEBUG, never a wrong answer.
TEST(CommFailure, DisagreeingCountsAreCaught) {
  for (bool debug : {true, false}) {
    for (Algorithm a : {Algorithm::Direct, Algorithm::Ring, Algorithm::Rd}) {
      ProcessGroupOptions o;
      o.timeout = std::chrono::seconds(3);
      o.debug = debug;
      run_group(
          3,
          [&](ProcessGroup& pg) {
            std::vector<float> x(100, 1.f);
            const size_t count = pg.rank() == 1 ? 90 : 100;
            try {
              pg.all_reduce(x.data(), x.data(), count, DType::Float32, ReduceOp::Sum, {a})->wait();
              ADD_FAILURE() << "rank " << pg.rank() << ": mismatch not caught (debug " << debug << ", "
                            << comm::to_string(a) << ")";
            } catch (const CommError& e) {
              const std::string m = e.what();
              if (debug) {
                EXPECT_NE(m.find("disagree"), std::string::npos) << m;
                EXPECT_NE(m.find("rank 1: seq 1 all_reduce float32 x 90"), std::string::npos) << m;
              }
            }
          },
          o);
    }
  }
}

TEST(CommFailure, DebugNamesDifferentOps) {
  ProcessGroupOptions o;
  o.timeout = std::chrono::seconds(3);
  o.debug = true;
  run_group(
      2,
      [&](ProcessGroup& pg) {
        std::vector<float> x(16, 1.f);
        try {
          if (pg.rank() == 0) {
            pg.all_reduce(x.data(), x.data(), 16, DType::Float32, ReduceOp::Sum)->wait();
          } else {
            pg.broadcast(x.data(), 16, DType::Float32, 0)->wait();
          }
          ADD_FAILURE() << "expected a disagreement error";
        } catch (const CommError& e) {
          const std::string m = e.what();
          EXPECT_NE(m.find("rank 0: seq 1 all_reduce"), std::string::npos) << m;
          EXPECT_NE(m.find("rank 1: seq 1 broadcast"), std::string::npos) << m;
        }
      },
      o);
}

TEST(CommFailure, BadArgumentsRaiseAtTheCall) {
  run_group(2, [](ProcessGroup& pg) {
    float x[4] = {1, 2, 3, 4};
    EXPECT_THROW(pg.all_reduce(x, x, 4, DType::Bool, ReduceOp::Sum), DTypeError);
    EXPECT_THROW(pg.all_reduce(x, x, 4, DType::Int32, ReduceOp::Avg), DTypeError);
    EXPECT_THROW(pg.all_reduce(nullptr, x, 4, DType::Float32, ReduceOp::Sum), ValueError);
    EXPECT_THROW(pg.broadcast(x, 4, DType::Float32, -1), ValueError);
    EXPECT_THROW(pg.reduce(x, x, 4, DType::Float32, ReduceOp::Sum, 2), ValueError);
    EXPECT_THROW(pg.all_gather(x, x, 1, DType::Float32, {Algorithm::Rhd}), ValueError);
    EXPECT_THROW(pg.new_group({0, 0}), ValueError);
    EXPECT_THROW(pg.new_group({5}), ValueError);
    // Still usable: argument errors do not poison the group.
    pg.all_reduce(x, x, 4, DType::Float32, ReduceOp::Sum)->wait();
    EXPECT_EQ(x[3], 8.f);
  });
  EXPECT_THROW(comm::ProcessGroup::create(2, 2, std::make_shared<comm::HashStore>()), ValueError);
  EXPECT_THROW(comm::parse_algorithm("fastest"), ValueError);
}

TEST(CommFailure, FlightRecorderKeepsTheLastOps) {
  run_group(2, [](ProcessGroup& pg) {
    std::vector<int32_t> x(10, 1);
    for (int i = 0; i < 3; ++i) pg.all_reduce(x.data(), x.data(), 10, DType::Int32, ReduceOp::Sum)->wait();
    pg.barrier()->wait();
    const std::string fr = pg.flight_record();
    EXPECT_NE(fr.find("all_reduce int32 x 10 sum"), std::string::npos) << fr;
    EXPECT_NE(fr.find("completed"), std::string::npos) << fr;
    EXPECT_NE(fr.find("barrier"), std::string::npos) << fr;
  });
}

}  // namespace
}  // namespace iccrt::test
