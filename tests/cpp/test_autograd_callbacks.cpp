// The engine's end-of-pass callbacks (autograd::queue_callback) and storage release / restore: the two
// primitives data parallel and ZeRO-3 are built on.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "iccrt/autograd/engine.hpp"
#include "iccrt/autograd/functions.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt {
namespace {

Tensor values(const std::vector<double>& v) {
  return from_vector(v, {static_cast<int64_t>(v.size())}, TensorOptions(DType::Float32));
}

Tensor leaf(const std::vector<double>& v) {
  Tensor t = values(v);
  t.set_requires_grad(true);
  return t;
}

TEST(AutogradCallbacks, RunAfterEveryNodeIncludingNested) {
  Tensor w = leaf({1, 2, 3});
  std::vector<std::string> events;
  w.register_post_accumulate_grad_hook([&](const Tensor& p) {
    events.push_back("hook " + std::to_string(p.grad().data<float>()[0]));
    autograd::queue_callback([&] {
      events.push_back("callback");
      autograd::queue_callback([&] { events.push_back("nested"); });
    });
  });
  autograd::backward({iccrt::sum(iccrt::mul(w, w))});
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1], "callback");
  EXPECT_EQ(events[2], "nested");
  EXPECT_THROW(autograd::queue_callback([] {}), ValueError);  // no pass running
}

TEST(AutogradCallbacks, ErrorInCallbackPropagatesAndNextPassIsClean) {
  Tensor w = leaf({2});
  int calls = 0;
  bool fail = true;
  w.register_hook([&](const Tensor&) {
    autograd::queue_callback([&] {
      ++calls;
      if (fail) throw ValueError("callback failed");
    });
    return Tensor();
  });
  EXPECT_THROW(autograd::backward({iccrt::sum(iccrt::mul(w, w))}), ValueError);
  fail = false;
  autograd::backward({iccrt::sum(iccrt::mul(w, w))});
  EXPECT_EQ(calls, 2);
}

TEST(StorageRelease, ViewsRaiseWhileReleasedAndSavedTensorsSurviveRestore) {
  Tensor w = leaf({1, -2, 0.5});
  Tensor full = values({2, 3, 4});
  Tensor x = full.narrow(0, 0, 3);
  Tensor y = iccrt::sum(iccrt::mul(w, x));  // saves x
  full.storage()->release_memory();
  EXPECT_TRUE(x.storage()->is_released());
  EXPECT_THROW(x.data_ptr(), ValueError);
  EXPECT_THROW(autograd::backward({y}, {}, /*retain_graph=*/true), ValueError);
  full.storage()->restore_memory();
  const uint64_t version = x.version();
  float* p = static_cast<float*>(full.data_ptr());
  p[0] = 5.f, p[1] = 6.f, p[2] = 7.f;  // a raw refill (as a collective does): no version bump
  EXPECT_EQ(x.version(), version);
  autograd::backward({y});
  const Tensor g = w.grad();
  EXPECT_FLOAT_EQ(g.data<float>()[0], 5.f);
  EXPECT_FLOAT_EQ(g.data<float>()[2], 7.f);
  full.storage()->release_memory();
  full.storage()->release_memory();  // idempotent
}

TEST(StorageRelease, WrappedMemoryCannotBeReleased) {
  float buf[4] = {1, 2, 3, 4};
  StorageImpl s(buf, sizeof buf, Device(DeviceType::CPU), nullptr);
  EXPECT_THROW(s.release_memory(), ValueError);
  EXPECT_FALSE(s.is_released());
}

}  // namespace
}  // namespace iccrt
