#pragma once
// Parameter initialisation (torch.nn.init's names and formulas). Every function fills its tensor in place with
// recording off, so it works on parameters that require grad, and returns the same tensor (a handle, so views
// such as w.narrow(0, 0, n) can be initialised piecewise). Random draws come from `gen` (the default generator
// when null): a seeded generator reproduces an initialisation exactly, on CPU and CUDA alike.
// Floating tensors only (DTypeError otherwise).
#include <string>
#include <utility>

#include "iccrt/core/export.hpp"
#include "iccrt/core/generator.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt::nn::init {

// (fan_in, fan_out) of a weight laid out as [out, in, *receptive field]: fan_in = in * prod(receptive field),
// fan_out = out * prod(receptive field). Needs dim() >= 2 (ValueError otherwise).
ICCRT_API std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

// The recommended gain for a nonlinearity: "linear", "conv1d", "conv2d", "sigmoid" -> 1, "tanh" -> 5/3,
// "relu" -> sqrt(2), "leaky_relu" -> sqrt(2 / (1 + param^2)) (param = negative slope), "selu" -> 3/4.
// An unknown name raises ValueError.
ICCRT_API double calculate_gain(const std::string& nonlinearity, double param = 0.01);

// Uniform on [low, high) (low <= high) and normal(mean, std) (std >= 0).
ICCRT_API Tensor uniform_(const Tensor& t, double low = 0.0, double high = 1.0, Generator* gen = nullptr);
ICCRT_API Tensor normal_(const Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
ICCRT_API Tensor constant_(const Tensor& t, double value);
ICCRT_API Tensor zeros_(const Tensor& t);
ICCRT_API Tensor ones_(const Tensor& t);

// Glorot: uniform on +-gain * sqrt(6 / (fan_in + fan_out)) / normal with std gain * sqrt(2 / (fan_in + fan_out)).
ICCRT_API Tensor xavier_uniform_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
ICCRT_API Tensor xavier_normal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);

// He: std = calculate_gain(nonlinearity, a) / sqrt(fan), fan = fan_in (mode "fan_in") or fan_out ("fan_out");
// uniform on +-sqrt(3) * std, or normal with that std. PyTorch's Linear / Conv2d default is
// kaiming_uniform_(w, sqrt(5)), i.e. uniform on +-1 / sqrt(fan_in).
ICCRT_API Tensor kaiming_uniform_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                                  const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
ICCRT_API Tensor kaiming_normal_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                                 const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);

}  // namespace iccrt::nn::init
