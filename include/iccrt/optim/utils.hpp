#pragma once
// Gradient utilities for training loops.
#include <vector>

#include "iccrt/core/export.hpp"
#include "iccrt/core/tensor.hpp"

namespace iccrt::optim {

// Scales the gradients of `params` in place so that their joint norm is at most max_norm, and returns the norm
// they had before (torch.nn.utils.clip_grad_norm_). norm_type: p > 0 for the p-norm of all gradient elements
// together, or infinity for the largest magnitude. The norm is accumulated in float64 whatever the gradients'
// dtype. Gradients are multiplied by max_norm / (norm + 1e-6) when that is below 1, and left alone otherwise.
// Parameters without a gradient are skipped (no gradients at all: returns 0). A non-finite norm raises
// ValueError when error_if_nonfinite; otherwise the gradients are scaled by the formula's factor as in PyTorch
// (0 for an infinite norm, NaN for a NaN norm).
// max_norm must be >= 0 and norm_type > 0 (ValueError).
ICCRT_API double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                                 bool error_if_nonfinite = false);

// Clamps every gradient element of `params` into [-clip_value, clip_value] in place (clip_value >= 0).
ICCRT_API void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace iccrt::optim
