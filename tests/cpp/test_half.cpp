// float16 / bfloat16 conversions: round to nearest, ties to even; NaN stays NaN; overflow to infinity.
// References are computed here in double, independently of half.hpp's bit tricks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "iccrt/core/half.hpp"

namespace iccrt {
namespace {

float f_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Nearest value of a binary floating format with `mant_bits` stored mantissa bits, minimum normal exponent
// `emin`, largest finite `max_finite`; ties to even; values at or beyond max + half an ulp become infinity.
double round_ref(double x, int mant_bits, int emin, double max_finite) {
  if (std::isnan(x) || std::isinf(x) || x == 0.0) return x;
  const double ax = std::fabs(x);
  int e = std::ilogb(ax);
  if (e < emin) e = emin;
  const double ulp = std::ldexp(1.0, e - mant_bits);
  double q = ax / ulp;  // exact: a float divided by a power of two (no underflow in double for these ranges)
  double fl = std::floor(q), frac = q - fl;
  double r;
  if (frac > 0.5) {
    r = fl + 1;
  } else if (frac < 0.5) {
    r = fl;
  } else {
    r = std::fmod(fl, 2.0) == 0.0 ? fl : fl + 1;
  }
  double v = r * ulp;
  const double max_ulp = std::ldexp(1.0, std::ilogb(max_finite) - mant_bits);
  if (ax >= max_finite + max_ulp / 2) v = std::numeric_limits<double>::infinity();
  return std::copysign(v, x);
}
double half_ref(float f) { return round_ref(f, 10, -14, 65504.0); }
double bf16_ref(float f) { return round_ref(f, 7, -126, static_cast<double>(f_from_bits(0x7f7f0000u))); }

TEST(Half, ExhaustiveRoundTrip) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const Half h = Half::from_bits(static_cast<uint16_t>(b));
    const float f = h;
    const Half back(f);
    const bool is_nan = ((b >> 10) & 0x1f) == 0x1f && (b & 0x3ff) != 0;
    if (is_nan) {
      ASSERT_TRUE(std::isnan(f)) << "bits 0x" << std::hex << b;
      ASSERT_TRUE(((back.bits >> 10) & 0x1f) == 0x1f && (back.bits & 0x3ff) != 0) << "bits 0x" << std::hex << b;
      ASSERT_EQ(back.bits & 0x8000, b & 0x8000);
    } else {
      ASSERT_EQ(back.bits, b) << "bits 0x" << std::hex << b << " -> " << f;
    }
  }
}

TEST(Half, DecodeMatchesDefinition) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint32_t e = (b >> 10) & 0x1f, m = b & 0x3ff;
    if (e == 0x1f) continue;
    const double mag = e == 0 ? std::ldexp(static_cast<double>(m), -24) : std::ldexp(1.0 + m / 1024.0, int(e) - 15);
    const double expect = (b & 0x8000) ? -mag : mag;
    ASSERT_EQ(static_cast<double>(static_cast<float>(Half::from_bits(static_cast<uint16_t>(b)))), expect)
        << std::hex << b;
  }
  EXPECT_TRUE(std::isinf(static_cast<float>(Half::from_bits(0x7c00))));
  EXPECT_LT(static_cast<float>(Half::from_bits(0xfc00)), 0.0f);
}

TEST(Half, AllTiesRoundToEven) {
  // Every midpoint between adjacent finite halves is a float; it must round to the even neighbour, and one float
  // ulp either side must round to the nearer one.
  for (uint32_t b = 0; b < 0x7bff; ++b) {
    const float lo = Half::from_bits(static_cast<uint16_t>(b));
    const float hi = Half::from_bits(static_cast<uint16_t>(b + 1));
    const float mid = static_cast<float>((static_cast<double>(lo) + hi) / 2);
    ASSERT_EQ(static_cast<double>(mid), (static_cast<double>(lo) + hi) / 2);
    const uint16_t even = (b & 1) ? static_cast<uint16_t>(b + 1) : static_cast<uint16_t>(b);
    ASSERT_EQ(Half(mid).bits, even) << "tie between 0x" << std::hex << b << " and 0x" << b + 1;
    ASSERT_EQ(Half(-mid).bits, even | 0x8000);
    ASSERT_EQ(Half(std::nextafter(mid, 0.0f)).bits, b);
    ASSERT_EQ(Half(std::nextafter(mid, 1e30f)).bits, b + 1);
  }
}

TEST(Half, NamedCases) {
  EXPECT_EQ(Half(1.0f).bits, 0x3c00);
  EXPECT_EQ(Half(-2.0f).bits, 0xc000);
  EXPECT_EQ(Half(0.0f).bits, 0x0000);
  EXPECT_EQ(Half(-0.0f).bits, 0x8000);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to 1 (even mantissa).
  EXPECT_EQ(Half(1.0f + std::ldexp(1.0f, -11)).bits, 0x3c00);
  // 1 + 3*2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
  EXPECT_EQ(Half(1.0f + 3 * std::ldexp(1.0f, -11)).bits, 0x3c02);
  // Overflow: 65504 is the largest half; 65520 is the midpoint to 2^16 and rounds (to even) to infinity.
  EXPECT_EQ(Half(65504.0f).bits, 0x7bff);
  EXPECT_EQ(Half(65519.0f).bits, 0x7bff);
  EXPECT_EQ(Half(65520.0f).bits, 0x7c00);
  EXPECT_EQ(Half(-65520.0f).bits, 0xfc00);
  EXPECT_EQ(Half(1e10f).bits, 0x7c00);
  EXPECT_EQ(Half(std::numeric_limits<float>::infinity()).bits, 0x7c00);
  EXPECT_EQ(Half(-std::numeric_limits<float>::infinity()).bits, 0xfc00);
  // Subnormals: 2^-24 is the smallest; 2^-25 ties to 0; 3*2^-25 ties to 2*2^-24; the largest subnormal
  // plus half a step ties up to the smallest normal (even).
  EXPECT_EQ(Half(std::ldexp(1.0f, -24)).bits, 0x0001);
  EXPECT_EQ(Half(std::ldexp(1.0f, -25)).bits, 0x0000);
  EXPECT_EQ(Half(-std::ldexp(1.0f, -25)).bits, 0x8000);
  EXPECT_EQ(Half(std::nextafter(std::ldexp(1.0f, -25), 1.0f)).bits, 0x0001);
  EXPECT_EQ(Half(3 * std::ldexp(1.0f, -25)).bits, 0x0002);
  EXPECT_EQ(Half(1023.5f * std::ldexp(1.0f, -24)).bits, 0x0400);
  EXPECT_EQ(Half(std::ldexp(1.0f, -14)).bits, 0x0400);
  EXPECT_EQ(Half(1e-10f).bits, 0x0000);
  EXPECT_EQ(Half(f_from_bits(0x00000001u)).bits, 0x0000);  // float subnormal
  EXPECT_FLOAT_EQ(static_cast<float>(Half::from_bits(0x0001)), std::ldexp(1.0f, -24));
  EXPECT_FLOAT_EQ(static_cast<float>(Half::from_bits(0x03ff)), 1023.0f * std::ldexp(1.0f, -24));
  // NaN in, NaN out (both signs, with payloads that would truncate to zero mantissa).
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7f801000u, 0x7fffffffu}) {
    const Half h(f_from_bits(nan));
    EXPECT_EQ(h.bits & 0x7c00, 0x7c00) << std::hex << nan;
    EXPECT_NE(h.bits & 0x03ff, 0) << std::hex << nan;
    EXPECT_TRUE(std::isnan(static_cast<float>(h)));
  }
}

TEST(Half, RandomFloatsMatchReference) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<uint32_t> bits;
  // Exponents across the half range (incl. subnormal and overflow) and beyond.
  std::uniform_int_distribution<int> exp(127 - 30, 127 + 17);
  for (int i = 0; i < 2000000; ++i) {
    uint32_t u = bits(rng);
    if (i % 2 == 0) u = (u & 0x807fffffu) | (static_cast<uint32_t>(exp(rng)) << 23);
    const float f = f_from_bits(u);
    if (std::isnan(f)) continue;
    const double expect = half_ref(f);
    const double got = static_cast<float>(Half(f));
    ASSERT_TRUE(got == expect && std::signbit(got) == std::signbit(expect))
        << "float bits 0x" << std::hex << u << std::dec << " (" << f << "): got " << got << " expected " << expect;
  }
}

TEST(BFloat16, ExhaustiveRoundTrip) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const BFloat16 h = BFloat16::from_bits(static_cast<uint16_t>(b));
    const float f = h;
    ASSERT_EQ(bits_of(f), b << 16);
    const BFloat16 back(f);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(static_cast<float>(back))) << std::hex << b;
    } else {
      ASSERT_EQ(back.bits, b) << std::hex << b;
    }
  }
}

TEST(BFloat16, AllTiesRoundToEven) {
  for (uint32_t b = 0; b < 0x7f7f; ++b) {
    const uint32_t mid_bits = (b << 16) | 0x8000u;  // exactly halfway to b + 1
    const uint16_t even = (b & 1) ? static_cast<uint16_t>(b + 1) : static_cast<uint16_t>(b);
    ASSERT_EQ(BFloat16(f_from_bits(mid_bits)).bits, even) << std::hex << b;
    ASSERT_EQ(BFloat16(f_from_bits(mid_bits | 0x80000000u)).bits, even | 0x8000);
    ASSERT_EQ(BFloat16(f_from_bits(mid_bits - 1)).bits, b);
    ASSERT_EQ(BFloat16(f_from_bits(mid_bits + 1)).bits, b + 1);
  }
}

TEST(BFloat16, NamedCases) {
  EXPECT_EQ(BFloat16(1.0f).bits, 0x3f80);
  // 1 + 2^-8 is the tie between 1 and 1 + 2^-7: to 1 (even).
  EXPECT_EQ(BFloat16(1.0f + std::ldexp(1.0f, -8)).bits, 0x3f80);
  EXPECT_EQ(BFloat16(std::nextafter(1.0f + std::ldexp(1.0f, -8), 2.0f)).bits, 0x3f81);
  // 1 + 3*2^-8: tie between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
  EXPECT_EQ(BFloat16(1.0f + 3 * std::ldexp(1.0f, -8)).bits, 0x3f82);
  EXPECT_EQ(BFloat16(-0.0f).bits, 0x8000);
  // Largest float rounds up to infinity (it is past the midpoint above the largest bfloat16).
  EXPECT_EQ(BFloat16(std::numeric_limits<float>::max()).bits, 0x7f80);
  EXPECT_EQ(BFloat16(f_from_bits(0x7f7f7fffu)).bits, 0x7f7f);
  EXPECT_EQ(BFloat16(std::numeric_limits<float>::infinity()).bits, 0x7f80);
  // Float subnormals round like any other value (bfloat16 has the same exponent range).
  EXPECT_EQ(BFloat16(f_from_bits(0x00008000u)).bits, 0x0000);
  EXPECT_EQ(BFloat16(f_from_bits(0x00018000u)).bits, 0x0002);
  // NaN payloads that would round or truncate to infinity stay NaN.
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu, 0x7f80ffffu}) {
    EXPECT_TRUE(std::isnan(static_cast<float>(BFloat16(f_from_bits(nan))))) << std::hex << nan;
  }
}

TEST(BFloat16, RandomFloatsMatchReference) {
  std::mt19937 rng(99);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 2000000; ++i) {
    const uint32_t u = bits(rng);
    const float f = f_from_bits(u);
    if (std::isnan(f)) continue;
    const double expect = bf16_ref(f);
    const double got = static_cast<float>(BFloat16(f));
    ASSERT_TRUE(got == expect && std::signbit(got) == std::signbit(expect))
        << "float bits 0x" << std::hex << u << std::dec << ": got " << got << " expected " << expect;
  }
}

}  // namespace
}  // namespace iccrt
