#pragma once
// A row-major multi-index over an N-d shape that carries K running offsets (one per operand) along with it, so
// walking the index space costs an add per step instead of a multiply per dimension.
#include <cstdint>

#include "kernels/common/kernel_args.hpp"

namespace iccrt::kernels::cpu::detail {

template <int K>
struct NdCounter {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[K][kMaxDims] = {};  // in whatever unit the caller adds offsets in (bytes or elements)
  int64_t idx[kMaxDims] = {};
  int64_t off[K] = {};

  // Positions the counter at row-major flat index `flat` (0 <= flat < product of shape; 0 for ndim == 0).
  void seek(int64_t flat) {
    for (int k = 0; k < K; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t s = shape[d];
      idx[d] = flat % s;
      flat /= s;
      for (int k = 0; k < K; ++k) off[k] += idx[d] * strides[k][d];
    }
  }

  // Steps to the next flat index. Stepping past the end wraps to 0, which callers never rely on.
  void next() {
    for (int d = ndim - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        for (int k = 0; k < K; ++k) off[k] += strides[k][d];
        return;
      }
      idx[d] = 0;
      for (int k = 0; k < K; ++k) off[k] -= strides[k][d] * (shape[d] - 1);
    }
  }
};

}  // namespace iccrt::kernels::cpu::detail
