#pragma once
// Reductions over one or more dimensions (an empty `dims` list means all of them), with keepdim.
// float16/bfloat16 accumulate in float32, float32 in float64 blocks; integer sums accumulate and return int64.
#include <utility>
#include <vector>

#include "iccrt/core/tensor.hpp"

namespace iccrt::ops {

ICCRT_API Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
ICCRT_API Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);  // floating only
// Variance with Bessel's correction by default (correction = 1), like torch.var; floating only.
ICCRT_API Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1,
                     bool keepdim = false);
// Max / min over all elements, or along one dim returning (values, int64 indices of the first extreme).
// Empty reductions raise ValueError. NaN propagates.
ICCRT_API Tensor max(const Tensor& x);
ICCRT_API Tensor min(const Tensor& x);
ICCRT_API std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
ICCRT_API std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
ICCRT_API Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
ICCRT_API Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
ICCRT_API Tensor argmax(const Tensor& x);  // over the flattened tensor
ICCRT_API Tensor argmin(const Tensor& x);

}  // namespace iccrt::ops
