// DType metadata and names; Device parsing and printing.
#include <gtest/gtest.h>

#include <sstream>
#include <type_traits>

#include "iccrt/core/device.hpp"
#include "iccrt/core/dtype.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/core/tensor.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

TEST(DType, ItemsizeAndKind) {
  EXPECT_EQ(itemsize(DType::Float32), 4);
  EXPECT_EQ(itemsize(DType::Float64), 8);
  EXPECT_EQ(itemsize(DType::Float16), 2);
  EXPECT_EQ(itemsize(DType::BFloat16), 2);
  EXPECT_EQ(itemsize(DType::Int32), 4);
  EXPECT_EQ(itemsize(DType::Int64), 8);
  EXPECT_EQ(itemsize(DType::UInt8), 1);
  EXPECT_EQ(itemsize(DType::Bool), 1);
  for (DType t : test::all_dtypes()) {
    const bool fl = t == DType::Float32 || t == DType::Float64 || t == DType::Float16 || t == DType::BFloat16;
    EXPECT_EQ(is_floating(t), fl) << dtype_name(t);
    EXPECT_EQ(is_integral(t), !fl && t != DType::Bool) << dtype_name(t);
    // itemsize agrees with the C++ type dispatch maps it to.
    dispatch(t, [&](auto tag) {
      using T = typename decltype(tag)::type;
      EXPECT_EQ(static_cast<int64_t>(sizeof(T)), itemsize(t));
      EXPECT_EQ(DTypeOf<T>::value, t);
    });
  }
  static_assert(std::is_same_v<opmath_t<Half>, float>);
  static_assert(std::is_same_v<opmath_t<BFloat16>, float>);
  static_assert(std::is_same_v<opmath_t<double>, double>);
  static_assert(std::is_same_v<opmath_t<int32_t>, int32_t>);
}

TEST(DType, Names) {
  EXPECT_STREQ(dtype_name(DType::Float32), "float32");
  EXPECT_STREQ(dtype_name(DType::Float64), "float64");
  EXPECT_STREQ(dtype_name(DType::Float16), "float16");
  EXPECT_STREQ(dtype_name(DType::BFloat16), "bfloat16");
  EXPECT_STREQ(dtype_name(DType::Int32), "int32");
  EXPECT_STREQ(dtype_name(DType::Int64), "int64");
  EXPECT_STREQ(dtype_name(DType::UInt8), "uint8");
  EXPECT_STREQ(dtype_name(DType::Bool), "bool");
  for (DType t : test::all_dtypes()) EXPECT_EQ(dtype_from_name(dtype_name(t)), t) << dtype_name(t);
  EXPECT_EQ(dtype_from_name("float"), DType::Float32);
  EXPECT_EQ(dtype_from_name("fp32"), DType::Float32);
  EXPECT_THROW(dtype_from_name("float128"), ValueError);
  EXPECT_THROW(dtype_from_name(""), ValueError);
  EXPECT_THROW(dtype_from_name("Float32 "), ValueError);
  std::ostringstream os;
  os << DType::BFloat16 << ' ' << DType::UInt8;
  EXPECT_EQ(os.str(), "bfloat16 uint8");
}

TEST(DType, DispatchFloatingRejectsOthers) {
  for (DType t : test::all_dtypes()) {
    if (is_floating(t)) {
      const int64_t size = dispatch_floating(
          t, "test", [](auto tag) { return static_cast<int64_t>(sizeof(typename decltype(tag)::type)); });
      EXPECT_EQ(size, itemsize(t));
    } else {
      EXPECT_THROW(dispatch_floating(t, "test", [](auto) { return 0; }), DTypeError) << dtype_name(t);
    }
  }
}

TEST(Device, Parse) {
  const Device cpu("cpu");
  EXPECT_TRUE(cpu.is_cpu());
  EXPECT_EQ(cpu.index, 0);
  EXPECT_EQ(cpu, kCPU);
  EXPECT_EQ(cpu.str(), "cpu");

  const Device cuda("cuda");
  EXPECT_TRUE(cuda.is_cuda());
  EXPECT_EQ(cuda.index, 0);
  EXPECT_EQ(cuda.str(), "cuda:0");

  const Device cuda1("cuda:1");
  EXPECT_TRUE(cuda1.is_cuda());
  EXPECT_EQ(cuda1.index, 1);
  EXPECT_EQ(cuda1.str(), "cuda:1");
  EXPECT_EQ(cuda1, cuda_device(1));
  EXPECT_NE(cuda1, cuda);
  EXPECT_EQ(Device("cuda:12").index, 12);

  std::ostringstream os;
  os << cuda1 << ' ' << cpu;
  EXPECT_EQ(os.str(), "cuda:1 cpu");

  for (const char* bad : {"", "gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:1x", "CPU ", "cuda1", ":0"}) {
    EXPECT_THROW(Device{std::string(bad)}, ValueError) << "'" << bad << "'";
  }
  // A CPU device always has index 0.
  EXPECT_EQ(Device(DeviceType::CPU, 3).index, 0);
}

TEST(Device, CudaAvailability) {
  if (cuda_compiled()) {
    EXPECT_EQ(cuda_available(), cuda_device_count() > 0);
    GTEST_SKIP() << "CUDA build: CPU-only expectations do not apply";
  }
  EXPECT_FALSE(cuda_available());
  EXPECT_EQ(cuda_device_count(), 0);
  EXPECT_THROW(empty({2}, TensorOptions(cuda_device(0))), DeviceError);
}

}  // namespace
}  // namespace iccrt
