// DistributedDataParallel and its Reducer with ranks as threads: N ranks with batch B/N step like one process with
// batch B; bucket layout; gradients as bucket views; no_sync; unused parameters; compression hooks; errors (missing
// gradients, mismatched models, abandoned passes, a peer that leaves); overlap statistics.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "iccrt/autograd/functions.hpp"
#include "iccrt/nn/nn.hpp"
#include "iccrt/optim/optim.hpp"
#include "iccrt/parallel/ddp.hpp"
#include "tests/cpp/comm_group_harness.hpp"
#include "tests/cpp/test_util.hpp"

namespace iccrt::test {
namespace {

using parallel::DDPOptions;
using parallel::DistributedDataParallel;
using Clock = std::chrono::steady_clock;

constexpr int64_t kBatch = 12;  // divisible by every rank count tested

// fc1 -> relu -> fc2 -> tanh -> fc3 (+ side, when asked); `never` is registered but used by no forward.
struct Mlp : nn::Module {
  Mlp(uint64_t seed, int64_t hidden = 16, bool branches = false) : Module("Mlp"), gen(seed) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(5, hidden, true, &gen));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, hidden, true, &gen));
    fc3 = register_module("fc3", std::make_shared<nn::Linear>(hidden, 3, true, &gen));
    if (branches) {
      side = register_module("side", std::make_shared<nn::Linear>(hidden, 3, true, &gen));
      never = register_module("never", std::make_shared<nn::Linear>(3, 3, false, &gen));
    }
  }
  Tensor forward(const Tensor& x, bool use_side = false) {
    Tensor h = tanh(fc2->forward(relu(fc1->forward(x))));
    Tensor out = fc3->forward(h);
    return use_side ? add(out, side->forward(h)) : out;
  }
  Generator gen;
  std::shared_ptr<nn::Linear> fc1, fc2, fc3, side, never;
};

Tensor inputs() {
  std::vector<double> v;
  for (int64_t i = 0; i < kBatch * 5; ++i) v.push_back(std::sin(0.37 * static_cast<double>(i) + 0.1));
  return from_vector(v, {kBatch, 5});
}
Tensor targets() {
  std::vector<double> v;
  for (int64_t i = 0; i < kBatch * 3; ++i) v.push_back(std::cos(0.23 * static_cast<double>(i)));
  return from_vector(v, {kBatch, 3});
}
Tensor shard(const Tensor& t, int rank, int n) { return t.narrow(0, rank * (kBatch / n), kBatch / n); }
Tensor mse(const Tensor& out, const Tensor& y) {
  Tensor d = sub(out, y);
  return mean(mul(d, d));
}

void expect_close(const Tensor& got, const std::vector<double>& want, double tol, const std::string& what) {
  const std::vector<double> g = to_host(got);
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_NEAR(g[i], want[i], tol * (1 + std::fabs(want[i]))) << what << " element " << i;
}

DDPOptions small_buckets() {
  DDPOptions o;
  o.first_bucket_bytes = 64;  // fc3's bias alone
  o.bucket_cap_bytes = 1200;  // about one hidden x hidden matrix per bucket
  return o;
}

std::shared_ptr<comm::ProcessGroup> shared(comm::ProcessGroup& pg) { return pg.shared_from_this(); }

// K SGD steps of N ranks with per-rank batch B/N against one process with batch B.
void check_equivalence(int n, bool as_view, parallel::CommHook hook, double tol) {
  constexpr int kSteps = 3;
  optim::SGDOptions sgd;
  sgd.lr = 0.1;
  sgd.momentum = 0.9;
  auto ref = std::make_shared<Mlp>(11);
  optim::SGD ref_opt(ref->parameters(), sgd);
  for (int s = 0; s < kSteps; ++s) {
    mse(ref->forward(inputs()), targets()).backward();
    ref_opt.step();
    ref_opt.zero_grad();
  }
  run_group(n, [&](comm::ProcessGroup& pg) {
    auto model = std::make_shared<Mlp>(11 + pg.rank());  // rank 0's values must win
    DDPOptions o = small_buckets();
    o.gradient_as_bucket_view = as_view;
    o.comm_hook = hook;
    DistributedDataParallel ddp(model, shared(pg), o);
    optim::SGD opt(model->parameters(), sgd);
    for (int s = 0; s < kSteps; ++s) {
      mse(model->forward(shard(inputs(), pg.rank(), n)), shard(targets(), pg.rank(), n)).backward();
      opt.step();
      opt.zero_grad(/*set_to_none=*/!as_view);
    }
    const nn::StateDict want = ref->named_parameters();
    const nn::StateDict got = model->named_parameters();
    for (size_t i = 0; i < want.size(); ++i)
      expect_close(got[i].second, to_host(want[i].second), tol,
                   "rank " + std::to_string(pg.rank()) + " " + got[i].first);
  });
}

TEST(Ddp, MatchesOneProcessOnTheFullBatch) {
  for (int n : {1, 2, 3, 4})
    for (bool as_view : {false, true}) {
      SCOPED_TRACE("ranks " + std::to_string(n) + (as_view ? ", grads as bucket views" : ""));
      check_equivalence(n, as_view, parallel::CommHook::AllReduce, 2e-5);
    }
}

TEST(Ddp, CompressionHooksWithinTheirPrecision) {
  // The averaged gradient is rounded once to 8 (bf16) / 11 (fp16) significant bits per step.
  for (int n : {2, 3}) {
    check_equivalence(n, false, parallel::CommHook::BF16Compress, 3e-2);
    check_equivalence(n, true, parallel::CommHook::FP16Compress, 4e-3);
  }
}

TEST(Ddp, BucketsInReverseOrderSplitByCapAndDtype) {
  run_group(1, [&](comm::ProcessGroup& pg) {
    std::vector<Tensor> p = {zeros({10}), zeros({20}), zeros({5}, DType::Float64), zeros({30}), zeros({8}), zeros({4})};
    for (size_t i = 0; i < 5; ++i) p[i].set_requires_grad(true);  // p[5] is frozen: skipped
    parallel::ReducerOptions o;
    o.first_bucket_bytes = 64;
    o.bucket_cap_bytes = 128;
    parallel::Reducer r(p, shared(pg), o);
    // Reverse order: p4 (32 B) opens the small first float32 bucket, p3 (120 B) does not fit it; p2 opens the
    // float64 bucket; p1 (80 B) does not fit with p3 in 128 B; p0 (40 B) joins p1.
    const std::vector<std::vector<int64_t>> want = {{4}, {3}, {2}, {1, 0}};
    ASSERT_EQ(r.num_buckets(), 4);
    for (int64_t b = 0; b < 4; ++b) EXPECT_EQ(r.bucket_params(b), want[b]) << "bucket " << b;
    EXPECT_EQ(r.bucket_buffer(2).dtype(), DType::Float64);
    EXPECT_EQ(r.bucket_buffer(3).numel(), 30);
    // Slots are consecutive views of the bucket buffer, shaped like their parameter.
    EXPECT_EQ(r.bucket_view(1).data_ptr(), r.bucket_buffer(3).data_ptr());
    EXPECT_EQ(static_cast<char*>(r.bucket_view(0).data_ptr()),
              static_cast<char*>(r.bucket_buffer(3).data_ptr()) + 20 * sizeof(float));
    EXPECT_EQ(r.bucket_view(2).shape(), Shape{5});
    EXPECT_THROW(r.bucket_view(5), IndexError);
  });
}

TEST(Ddp, GradientsAreBucketViewsAndAccumulateInPlace) {
  run_group(2, [&](comm::ProcessGroup& pg) {
    auto model = std::make_shared<Mlp>(3);
    DDPOptions o = small_buckets();
    o.gradient_as_bucket_view = true;
    DistributedDataParallel ddp(model, shared(pg), o);
    const std::vector<Tensor> params = model->parameters();
    for (int step = 0; step < 2; ++step) {
      mse(model->forward(shard(inputs(), pg.rank(), 2)), shard(targets(), pg.rank(), 2)).backward();
      for (size_t i = 0; i < params.size(); ++i) {
        const Tensor g = params[i].grad();
        const Tensor slot = ddp.reducer().bucket_view(static_cast<int64_t>(i));
        EXPECT_EQ(g.data_ptr(), slot.data_ptr()) << "param " << i;
        EXPECT_EQ(g.storage().get(), slot.storage().get()) << "param " << i;
      }
      model->zero_grad(/*set_to_none=*/false);  // zeroes the buckets; the next backward adds straight into them
    }
  });
}

// Grads after M micro-batches per rank, M - 1 of them under no_sync, equal the full-batch mean-loss gradient.
TEST(Ddp, NoSyncAccumulatesThenReducesTheSum) {
  auto ref = std::make_shared<Mlp>(5);
  mse(ref->forward(inputs()), targets()).backward();
  for (int n : {2, 3})
    for (bool as_view : {false, true})
      run_group(n, [&](comm::ProcessGroup& pg) {
        auto model = std::make_shared<Mlp>(5);
        DDPOptions o = small_buckets();
        o.gradient_as_bucket_view = as_view;
        DistributedDataParallel ddp(model, shared(pg), o);
        const int64_t rows = kBatch / n / 2;
        const Tensor x = shard(inputs(), pg.rank(), n), y = shard(targets(), pg.rank(), n);
        {
          auto guard = ddp.no_sync();
          EXPECT_FALSE(ddp.reducer().require_backward_grad_sync());
          div(mse(model->forward(x.narrow(0, 0, rows)), y.narrow(0, 0, rows)), Scalar(2.0)).backward();
        }
        EXPECT_EQ(ddp.last_step_stats().step, 0);  // nothing was communicated
        div(mse(model->forward(x.narrow(0, rows, rows)), y.narrow(0, rows, rows)), Scalar(2.0)).backward();
        EXPECT_EQ(ddp.last_step_stats().step, 1);
        const nn::StateDict want = ref->named_parameters(), got = model->named_parameters();
        for (size_t i = 0; i < want.size(); ++i)
          expect_close(got[i].second.grad(), to_host(want[i].second.grad()), 2e-5, got[i].first);
      });
}

// Rank 0 alone uses `side`; nobody uses `never`, whose .grad must stay as it was.
TEST(Ddp, FindUnusedParameters) {
  for (bool prepare : {true, false})
    for (bool as_view : {false, true})
      run_group(3, [&](comm::ProcessGroup& pg) {
        const int n = pg.size();
        // Reference: the average over ranks of each rank's local gradient (zero where it used nothing).
        std::vector<std::vector<double>> want;
        for (int q = 0; q < n; ++q) {
          Mlp local(21, 16, true);
          mse(local.forward(shard(inputs(), q, n), q == 0), shard(targets(), q, n)).backward();
          const std::vector<Tensor> ps = local.parameters();
          want.resize(ps.size());
          for (size_t i = 0; i < ps.size(); ++i) {
            const std::vector<double> g =
                ps[i].grad().defined() ? to_host(ps[i].grad()) : std::vector<double>(ps[i].numel(), 0.0);
            want[i].resize(g.size(), 0.0);
            for (size_t k = 0; k < g.size(); ++k) want[i][k] += g[k] / n;
          }
        }
        auto model = std::make_shared<Mlp>(21, 16, true);
        model->never->weight.set_grad(full({3, 3}, 5.0));
        DDPOptions o = small_buckets();
        o.find_unused_parameters = true;
        o.gradient_as_bucket_view = as_view;
        DistributedDataParallel ddp(model, shared(pg), o);
        for (int step = 0; step < 2; ++step) {
          model->zero_grad(true);
          model->never->weight.set_grad(full({3, 3}, 5.0));
          Tensor out = model->forward(shard(inputs(), pg.rank(), n), pg.rank() == 0);
          Tensor loss = mse(out, shard(targets(), pg.rank(), n));
          if (prepare) ddp.prepare_for_backward({loss});
          loss.backward();
          const nn::StateDict got = model->named_parameters();
          for (size_t i = 0; i < got.size(); ++i) {
            if (got[i].first == "never.weight") {
              expect_close(got[i].second.grad(), std::vector<double>(9, 5.0), 0, "never.weight untouched");
            } else {
              ASSERT_TRUE(got[i].second.grad().defined()) << got[i].first;
              expect_close(got[i].second.grad(), want[i], 2e-5, got[i].first);
            }
          }
        }
      });
}

TEST(Ddp, MissingGradientWithoutFindUnusedNamesTheParameter) {
  run_group(2, [&](comm::ProcessGroup& pg) {
    auto model = std::make_shared<Mlp>(4, 16, true);
    DistributedDataParallel ddp(model, shared(pg), small_buckets());
    Tensor loss = mse(model->forward(shard(inputs(), pg.rank(), 2)), shard(targets(), pg.rank(), 2));
    try {
      loss.backward();
      ADD_FAILURE() << "expected a ValueError";
    } catch (const ValueError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("side.weight (index 6, shape [3, 16])"), std::string::npos) << m;
      EXPECT_NE(m.find("never.weight"), std::string::npos) << m;
      EXPECT_NE(m.find("find_unused_parameters=True"), std::string::npos) << m;
    }
    // The reducer reset itself: a pass that uses everything synchronises normally.
    Tensor out = model->never->forward(model->forward(shard(inputs(), pg.rank(), 2), true));
    mse(out, shard(targets(), pg.rank(), 2)).backward();
    EXPECT_EQ(ddp.last_step_stats().step, 1);
  });
}

TEST(Ddp, StaticGraphFreezesTheUsedSet) {
  run_group(2, [&](comm::ProcessGroup& pg) {
    auto model = std::make_shared<Mlp>(8, 16, true);
    DDPOptions o = small_buckets();
    o.static_graph = true;
    DistributedDataParallel ddp(model, shared(pg), o);
    const Tensor x = shard(inputs(), pg.rank(), 2), y = shard(targets(), pg.rank(), 2);
    for (int step = 0; step < 2; ++step) mse(model->forward(x), y).backward();  // side, never: unused, as found
    EXPECT_FALSE(model->side->weight.grad().defined());
    EXPECT_THROW(mse(model->forward(x, true), y).backward(), ValueError);  // side now used
    mse(model->forward(x), y).backward();                                  // reset: the static set works again
  });
}

TEST(Ddp, MismatchedModelsNameTheRankAndParameter) {
  run_group(3, [&](comm::ProcessGroup& pg) {
    auto model = std::make_shared<Mlp>(1, pg.rank() == 2 ? 17 : 16);
    try {
      DistributedDataParallel ddp(model, shared(pg));
      ADD_FAILURE() << "expected a ValueError";
    } catch (const ValueError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("parameter 0 ('fc1.weight') has shape [17, 5], float32, cpu, requires_grad on rank 2 but shape "
                       "[16, 5], float32, cpu, requires_grad on rank 0"),
                std::string::npos)
          << m;
    }
  });
  run_group(2, [&](comm::ProcessGroup& pg) {
    auto model = std::make_shared<Mlp>(1, 16, pg.rank() == 1);
    EXPECT_THROW(
        {
          try {
            DistributedDataParallel ddp(model, shared(pg));
          } catch (const ValueError& e) {
            EXPECT_NE(std::string(e.what()).find("rank 1 has 9 parameters but rank 0 has 6"), std::string::npos)
                << e.what();
            throw;
          }
        },
        ValueError);
  });
}

TEST(Ddp, BadOptionsAndLateHooks) {
  run_group(1, [&](comm::ProcessGroup& pg) {
    auto model = std::make_shared<Mlp>(1);
    DDPOptions o;
    o.bucket_cap_bytes = 0;
    EXPECT_THROW({ DistributedDataParallel bad(model, shared(pg), o); }, ValueError);
    auto frozen = std::make_shared<nn::Linear>(2, 2);
    for (Tensor& p : frozen->parameters()) p.set_requires_grad(false);
    EXPECT_THROW({ DistributedDataParallel bad(frozen, shared(pg)); }, ValueError);
    DistributedDataParallel ddp(model, shared(pg));
    mse(model->forward(inputs()), targets()).backward();
    EXPECT_THROW(ddp.reducer().set_comm_hook(parallel::CommHook::BF16Compress), ValueError);
    EXPECT_THROW(parallel::parse_comm_hook("powersgd"), ValueError);
  });
}

// A pass that raises after some buckets were launched leaves the reducer mid-step: the next pass reports it (and
// resets), the one after works and averages correctly.
TEST(Ddp, AbandonedPassIsReportedThenRecovered) {
  auto ref = std::make_shared<Mlp>(6);
  mse(ref->forward(inputs()), targets()).backward();
  run_group(2, [&](comm::ProcessGroup& pg) {
    auto model = std::make_shared<Mlp>(6);
    DistributedDataParallel ddp(model, shared(pg), small_buckets());
    const Tensor x = shard(inputs(), pg.rank(), 2), y = shard(targets(), pg.rank(), 2);
    Tensor h = relu(model->fc1->forward(x));
    h.register_hook([](const Tensor&) -> Tensor { throw ValueError("injected failure"); });
    Tensor loss = mse(model->fc3->forward(tanh(model->fc2->forward(h))), y);
    EXPECT_THROW(loss.backward(), ValueError);
    try {
      mse(model->forward(x), y).backward();
      ADD_FAILURE() << "expected the abandoned pass to be reported";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("previous one finished"), std::string::npos) << e.what();
    }
    model->zero_grad();
    mse(model->forward(x), y).backward();
    const nn::StateDict want = ref->named_parameters(), got = model->named_parameters();
    for (size_t i = 0; i < want.size(); ++i)
      expect_close(got[i].second.grad(), to_host(want[i].second.grad()), 2e-5, got[i].first);
  });
}

// Rank 1 leaves the group before its backward: rank 0's backward fails with a CommError within the timeout.
TEST(Ddp, PeerLeavingMidStepFailsTheOthersWithoutHanging) {
  ProcessGroupOptions opts;
  opts.timeout = std::chrono::seconds(3);
  double elapsed = 0;
  std::string error;
  run_group(
      2,
      [&](comm::ProcessGroup& pg) {
        auto model = std::make_shared<Mlp>(2);
        DistributedDataParallel ddp(model, shared(pg), small_buckets());
        Tensor loss = mse(model->forward(shard(inputs(), pg.rank(), 2)), shard(targets(), pg.rank(), 2));
        if (pg.rank() == 1) {
          pg.shutdown();
          return;
        }
        const auto t0 = Clock::now();
        try {
          loss.backward();
        } catch (const comm::CommError& e) {
          error = e.what();
        }
        elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
      },
      opts);
  EXPECT_NE(error.find("rank 1"), std::string::npos) << "rank 0's backward did not fail naming rank 1: " << error;
  EXPECT_LT(elapsed, 10.0) << error;
}

TEST(Ddp, AllReducesStartBeforeBackwardEnds) {
  run_group(2, [&](comm::ProcessGroup& pg) {
    // Six 96x96 layers: the first bucket (the last layer's bias) is ready long before the first layer's grads.
    auto model = std::make_shared<nn::Sequential>();
    Generator gen(9);
    for (int i = 0; i < 6; ++i) model->push_back(std::make_shared<nn::Linear>(96, 96, true, &gen));
    DDPOptions o;
    o.first_bucket_bytes = 1024;
    o.bucket_cap_bytes = 96 * 96 * 4 + 1024;
    DistributedDataParallel ddp(model, shared(pg), o);
    const Tensor x = full({64, 96}, 0.01 * (pg.rank() + 1));
    for (int step = 0; step < 3; ++step) {
      model->zero_grad();
      Tensor loss = mean(model->forward(x));
      ddp.prepare_for_backward({loss});  // stamps the end of forward
      loss.backward();
    }
    const parallel::StepStats s = ddp.last_step_stats();
    std::string line =
        detail::str("backward ended at ", s.backward_end_s * 1e3, " ms; buckets (bytes: launch -> done ms):");
    for (const auto& b : s.buckets)
      line += detail::str(" [", b.bytes, ": ", b.launch_s * 1e3, " -> ", b.done_s * 1e3, "]");
    EXPECT_EQ(s.step, 3);
    ASSERT_GE(s.buckets.size(), 6u);
    EXPECT_GE(s.launched_before_backward_end, 1) << line;
    EXPECT_LT(s.buckets[0].launch_s, s.backward_end_s) << line;
    EXPECT_TRUE(s.buckets[0].launched_before_backward_end);
    EXPECT_GE(s.first_grad_after_forward_s, 0);
    EXPECT_GT(s.allreduce_s, 0);
    EXPECT_GE(s.hidden_fraction, 0);
    EXPECT_LE(s.hidden_fraction, 1);
    for (size_t b = 1; b < s.buckets.size(); ++b) EXPECT_GE(s.buckets[b].launch_s, s.buckets[b - 1].launch_s);
  });
}

}  // namespace
}  // namespace iccrt::test
