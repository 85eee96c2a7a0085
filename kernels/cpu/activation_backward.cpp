// Backward of the smooth activations: grad_in = grad_out * act'(x) for gelu (erf and tanh forms) and silu.
//   gelu (erf):  0.5 * (1 + erf(x / sqrt 2)) + x * exp(-x^2 / 2) / sqrt(2 pi)
//   gelu (tanh): with u = k (x + c x^3), t = tanh u:  0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2)
//   silu:        s (1 + x (1 - s)), s = sigmoid x
// float runs (16-bit ones after conversion) go through the vector tanh / sigmoid of vec_math.hpp; a strided or
// scalar element goes through the same vector code one lane at a time, so the bits do not depend on layout.
// float64 uses libm. gelu's erf stays libm's in float too, as in the forward (unary.cpp).
#include <cmath>
#include <cstring>

#include "kernels/cpu/elementwise_loop.hpp"
#include "kernels/cpu/nn_kernels.hpp"
#include "kernels/cpu/vec_math.hpp"

namespace iccrt::kernels::cpu {
namespace {

using detail::splat;
using detail::v8f;

constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kGeluC = 0.044715;
constexpr double kInvSqrt2 = 0.7071067811865476;
constexpr double kInvSqrt2Pi = 0.3989422804014327;

struct GeluTanhGrad {
  static constexpr bool kVector = true;
  static v8f vec(v8f g, v8f x) {
    const v8f k = splat(static_cast<float>(kSqrt2OverPi)), c = splat(static_cast<float>(kGeluC));
    const v8f x2 = x * x;
    const v8f t = detail::tanh_v(k * (x + c * x * x2));
    const v8f half = splat(0.5f), one = splat(1.0f);
    const v8f d = half * (one + t) + half * x * (one - t * t) * k * (one + splat(3.0f) * c * x2);
    return g * d;
  }
  static double one(double g, double x) {
    const double x2 = x * x;
    const double t = std::tanh(kSqrt2OverPi * (x + kGeluC * x * x2));
    return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * kSqrt2OverPi * (1.0 + 3.0 * kGeluC * x2));
  }
};

struct GeluErfGrad {
  static constexpr bool kVector = false;
  template <class M>
  static M one(M g, M x) {
    const M cdf = M(0.5) * (M(1) + std::erf(x * M(kInvSqrt2)));
    return g * (cdf + x * std::exp(M(-0.5) * x * x) * M(kInvSqrt2Pi));
  }
};

struct SiluGrad {
  static constexpr bool kVector = true;
  static v8f vec(v8f g, v8f x) {
    const v8f s = detail::sigmoid_v(x);
    return g * (s * (splat(1.0f) + x * (splat(1.0f) - s)));
  }
  static double one(double g, double x) {
    const double e = std::exp(-std::fabs(x));
    const double s = x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    return g * (s * (1.0 + x * (1.0 - s)));
  }
};

// One element in opmath.
template <class Op>
float elem(float g, float x) {
  if constexpr (Op::kVector) {
    return Op::vec(splat(g), splat(x))[0];
  } else {
    return Op::one(g, x);
  }
}
template <class Op>
double elem(double g, double x) {
  return Op::one(g, x);
}

// out[i] = op(g[i], x[i]) on float arrays.
template <class Op>
void run_float(const float* g, const float* x, float* out, int64_t n) {
  if constexpr (Op::kVector) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      v8f gv, xv;
      std::memcpy(&gv, g + i, sizeof(gv));
      std::memcpy(&xv, x + i, sizeof(xv));
      const v8f r = Op::vec(gv, xv);
      std::memcpy(out + i, &r, sizeof(r));
    }
    if (i < n) {
      v8f gv = {}, xv = {};
      const size_t bytes = static_cast<size_t>(n - i) * sizeof(float);
      std::memcpy(&gv, g + i, bytes);
      std::memcpy(&xv, x + i, bytes);
      const v8f r = Op::vec(gv, xv);
      std::memcpy(out + i, &r, bytes);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = Op::one(g[i], x[i]);
  }
}

template <class T, class Op>
void contiguous_run(const T* g, const T* x, T* out, int64_t n) {
  if constexpr (detail::is_half_like<T>) {
    alignas(32) float gb[detail::kBlock], xb[detail::kBlock], ob[detail::kBlock];
    for (int64_t b = 0; b < n; b += detail::kBlock) {
      const int64_t len = std::min(detail::kBlock, n - b);
      detail::to_float(g + b, gb, len);
      detail::to_float(x + b, xb, len);
      run_float<Op>(gb, xb, ob, len);
      detail::from_float(ob, out + b, len);
    }
  } else if constexpr (std::is_same_v<T, float>) {
    run_float<Op>(g, x, out, n);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = Op::one(g[i], x[i]);
  }
}

template <class Op>
void run(const ElementwiseArgs& a) {
  ICCRT_ASSERT(a.nargs == 3 && a.dtype[1] == a.dtype[0] && a.dtype[2] == a.dtype[0],
               "activation_backward: expected out, grad, x of one dtype");
  dispatch_floating(a.dtype[0], "activation_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    constexpr int64_t sz = sizeof(T);
    detail::for_each_run<3>(a, 4096, [&](char* const* p, const int64_t* s, int64_t n) {
      if (s[0] == sz && s[1] == sz && s[2] == sz) {
        contiguous_run<T, Op>(reinterpret_cast<const T*>(p[1]), reinterpret_cast<const T*>(p[2]),
                              reinterpret_cast<T*>(p[0]), n);
        return;
      }
      for (int64_t i = 0; i < n; ++i) {
        const M g = static_cast<M>(*reinterpret_cast<const T*>(p[1] + i * s[1]));
        const M x = static_cast<M>(*reinterpret_cast<const T*>(p[2] + i * s[2]));
        *reinterpret_cast<T*>(p[0] + i * s[0]) = static_cast<T>(elem<Op>(g, x));
      }
    });
  });
}

}  // namespace

void activation_backward(UnaryOp op, const ElementwiseArgs& a) {
  switch (op) {
    case UnaryOp::GeluTanh:
      return run<GeluTanhGrad>(a);
    case UnaryOp::GeluErf:
      return run<GeluErfGrad>(a);
    case UnaryOp::Silu:
      return run<SiluGrad>(a);
    default:
      break;
  }
  ICCRT_ASSERT(false, "activation_backward: unsupported op ", static_cast<int>(op));
}

}  // namespace iccrt::kernels::cpu
