// Parameter initialisation (include/iccrt/nn/init.hpp).
#include "iccrt/nn/init.hpp"

#include <cmath>

#include "iccrt/autograd/grad_mode.hpp"
#include "iccrt/core/error.hpp"

namespace iccrt::nn::init {
namespace {

void check_floating(const Tensor& t, const char* op) {
  ICCRT_CHECK(t.defined(), "nn::init::", op, ": undefined tensor");
  ICCRT_CHECK_DTYPE(is_floating(t.dtype()), "nn::init::", op, ": expected a floating tensor, got ",
                    dtype_name(t.dtype()));
}

int64_t fan(const Tensor& t, const std::string& mode, const char* op) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  ICCRT_CHECK_VALUE(mode == "fan_in" || mode == "fan_out", "nn::init::", op, ": mode must be \"fan_in\" or ",
                    "\"fan_out\", got \"", mode, "\"");
  const int64_t f = mode == "fan_in" ? fan_in : fan_out;
  ICCRT_CHECK_VALUE(f > 0, "nn::init::", op, ": cannot initialise a tensor with zero elements (shape ", t.shape(), ")");
  return f;
}

}  // namespace

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  ICCRT_CHECK_VALUE(t.defined() && t.dim() >= 2, "fan in and fan out need a tensor with at least 2 dimensions, got ",
                    t.defined() ? t.dim() : 0);
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

double calculate_gain(const std::string& nonlinearity, double param) {
  if (nonlinearity == "linear" || nonlinearity == "conv1d" || nonlinearity == "conv2d" || nonlinearity == "conv3d" ||
      nonlinearity == "sigmoid")
    return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nonlinearity == "selu") return 0.75;
  detail::throw_error<ValueError>(detail::str("calculate_gain: unsupported nonlinearity \"", nonlinearity,
                                              "\" (linear, conv1d, conv2d, conv3d, sigmoid, tanh, relu, ",
                                              "leaky_relu, selu)"));
}

Tensor uniform_(const Tensor& t, double low, double high, Generator* gen) {
  check_floating(t, "uniform_");
  autograd::NoGradGuard no_grad;
  Tensor h = t;
  iccrt::uniform_(h, low, high, gen);
  return t;
}

Tensor normal_(const Tensor& t, double mean, double std, Generator* gen) {
  check_floating(t, "normal_");
  autograd::NoGradGuard no_grad;
  Tensor h = t;
  iccrt::normal_(h, mean, std, gen);
  return t;
}

Tensor constant_(const Tensor& t, double value) {
  check_floating(t, "constant_");
  autograd::NoGradGuard no_grad;
  Tensor h = t;
  h.fill_(value);
  return t;
}

Tensor zeros_(const Tensor& t) { return constant_(t, 0.0); }
Tensor ones_(const Tensor& t) { return constant_(t, 1.0); }

Tensor xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  check_floating(t, "xavier_uniform_");
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return uniform_(t, -bound, bound, gen);
}

Tensor xavier_normal_(const Tensor& t, double gain, Generator* gen) {
  check_floating(t, "xavier_normal_");
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

Tensor kaiming_uniform_(const Tensor& t, double a, const std::string& mode, const std::string& nonlinearity,
                        Generator* gen) {
  check_floating(t, "kaiming_uniform_");
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan(t, mode, "kaiming_uniform_")));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(t, -bound, bound, gen);
}

Tensor kaiming_normal_(const Tensor& t, double a, const std::string& mode, const std::string& nonlinearity,
                       Generator* gen) {
  check_floating(t, "kaiming_normal_");
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan(t, mode, "kaiming_normal_")));
  return normal_(t, 0.0, std, gen);
}

}  // namespace iccrt::nn::init
