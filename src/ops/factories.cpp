// Tensor factories and random fills.
#include <cmath>
#include <mutex>

#include "iccrt/core/generator.hpp"
#include "kernels/common/philox.hpp"
#include "src/core/autograd_hook.hpp"
#include "src/ops/op_common.hpp"

namespace iccrt {

Tensor empty(const Shape& shape, TensorOptions opts) {
  const int64_t n = shape_numel(shape);
  auto storage = std::make_shared<StorageImpl>(static_cast<size_t>(n * itemsize(opts.dtype)), opts.device);
  return Tensor(std::move(storage), shape, contiguous_strides(shape), 0, opts.dtype);
}

Tensor zeros(const Shape& shape, TensorOptions opts) { return full(shape, 0, opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return full(shape, 1, opts); }

Tensor full(const Shape& shape, Scalar value, TensorOptions opts) {
  Tensor t = empty(shape, opts);
  t.fill_(value);
  return t;
}

Tensor empty_like(const Tensor& t) { return empty(t.shape(), TensorOptions(t.dtype(), t.device())); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), TensorOptions(t.dtype(), t.device())); }

Tensor arange(Scalar start, Scalar end, Scalar step, TensorOptions opts) {
  ICCRT_CHECK_DTYPE(opts.dtype != DType::Bool, "arange does not support dtype bool");
  int64_t n = 0;
  if (start.is_integral() && end.is_integral() && step.is_integral()) {
    ICCRT_CHECK_VALUE(step.i != 0, "arange: step must be non-zero");
    const int64_t span = end.i - start.i;
    if ((span > 0 && step.i > 0) || (span < 0 && step.i < 0))
      n = (span + step.i + (step.i > 0 ? -1 : 1)) / step.i;  // ceil(span / step)
  } else {
    const double s = start.to_double(), e = end.to_double(), st = step.to_double();
    ICCRT_CHECK_VALUE(st != 0.0, "arange: step must be non-zero");
    ICCRT_CHECK_VALUE(std::isfinite(s) && std::isfinite(e) && std::isfinite(st), "arange: bounds must be finite");
    n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((e - s) / st)));
  }
  if (is_integral(opts.dtype)) {
    ICCRT_CHECK_DTYPE(start.is_integral() && step.is_integral(), "arange with integer dtype ",
                      dtype_name(opts.dtype), " needs integer start and step");
  }
  Tensor t = empty({n}, opts);
  if (n == 0) return t;
  detail::run_on(
      opts.device, [&] { kernels::cpu::arange(t.data_ptr(), opts.dtype, n, start, step); },
      [&](void* s) { kernels::cuda::arange(t.data_ptr(), opts.dtype, n, start, step, s); });
  return t;
}

Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions opts) {
  ICCRT_CHECK_SHAPE(shape_numel(shape) == static_cast<int64_t>(values.size()), "from_vector: ", values.size(),
                    " values do not fill shape ", shape);
  Tensor host = empty(shape, TensorOptions(DType::Float64));
  std::copy(values.begin(), values.end(), host.data<double>());
  return host.to(opts.device, opts.dtype);
}

// ---- random ----

Generator& default_generator() {
  static Generator g(0);
  return g;
}

namespace {
std::mutex& generator_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lk(generator_mutex());
  default_generator().manual_seed(seed);
}

std::pair<uint64_t, uint64_t> reserve_random(Generator* gen, uint64_t n) {
  std::lock_guard<std::mutex> lk(generator_mutex());
  Generator& g = gen ? *gen : default_generator();
  const uint64_t offset = g.advance(n);
  return {g.seed(), offset};
}

namespace {

Tensor& random_fill(Tensor& t, bool normal, double a, double b, Generator* gen, const char* what) {
  dispatch_floating(t.dtype(), what, [](auto) {});
  detail::check_inplace(t, Tensor(), what);
  const int64_t n = t.numel();
  if (n == 0) return t;
  t.storage()->bump_version();
  const bool dbl = t.dtype() == DType::Float64;
  uint64_t seed, offset;
  {
    std::lock_guard<std::mutex> lk(generator_mutex());
    Generator& g = gen ? *gen : default_generator();
    seed = g.seed();
    offset = g.advance(static_cast<uint64_t>(n) * kernels::philox_words_per_value(dbl, normal));
  }
  // Draw into a contiguous buffer so element i of the draw is element i in row-major order.
  Tensor dst = t.is_contiguous() ? t : empty(t.shape(), TensorOptions(t.dtype(), t.device()));
  detail::run_on(
      t.device(),
      [&] {
        if (normal) kernels::cpu::random_normal(dst.data_ptr(), t.dtype(), n, seed, offset, a, b);
        else kernels::cpu::random_uniform(dst.data_ptr(), t.dtype(), n, seed, offset, a, b);
      },
      [&](void* s) {
        if (normal) kernels::cuda::random_normal(dst.data_ptr(), t.dtype(), n, seed, offset, a, b, s);
        else kernels::cuda::random_uniform(dst.data_ptr(), t.dtype(), n, seed, offset, a, b, s);
      });
  if (!t.is_contiguous()) t.copy_(dst);
  return t;
}
}  // namespace

Tensor& uniform_(Tensor& t, double low, double high, Generator* gen) {
  ICCRT_CHECK_VALUE(low <= high, "uniform_: expected low <= high, got [", low, ", ", high, ")");
  return random_fill(t, false, low, high, gen, "uniform_");
}

Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  ICCRT_CHECK_VALUE(std >= 0, "normal_: std must be non-negative, got ", std);
  return random_fill(t, true, mean, std, gen, "normal_");
}

Tensor rand(const Shape& shape, TensorOptions opts, Generator* gen) {
  dispatch_floating(opts.dtype, "rand", [](auto) {});
  Tensor t = empty(shape, opts);
  return uniform_(t, 0.0, 1.0, gen);
}

Tensor randn(const Shape& shape, TensorOptions opts, Generator* gen) {
  dispatch_floating(opts.dtype, "randn", [](auto) {});
  Tensor t = empty(shape, opts);
  return normal_(t, 0.0, 1.0, gen);
}

}  // namespace iccrt
