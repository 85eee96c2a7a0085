"""Gradient utilities: clip_grad_norm_, clip_grad_value_, and (vectorised) parameter views."""

import math

from .. import _C
from .._C import Tensor
from ..autograd import no_grad

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _with_grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def _device_total(grads, norm_type):
    """The norm of all `grads` together (float32, or float64 for float64 grads), as a 0-d tensor."""
    parts = []
    for g in grads:
        acc = g if g.dtype == _C.float64 else g.to(dtype=_C.float32)
        if norm_type == math.inf:
            parts.append(_C._max(acc.abs()).to(dtype=_C.float64))
        else:
            parts.append((acc.abs() ** float(norm_type)).sum().to(dtype=_C.float64))
    stacked = _C.stack(parts, 0)
    if norm_type == math.inf:
        return _C._max(stacked)
    return stacked.sum() ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scales all gradients together so that their combined norm is at most max_norm; returns the norm before
    clipping (a 0-d float64 tensor).

    The norm is over all gradients as one vector (norm_type 2 by default, or any p >= 1, or math.inf). The scale
    max_norm / (norm + 1e-6) is applied only when below 1, without a host round trip. error_if_nonfinite raises
    ValueError when the norm is inf or NaN (otherwise the gradients become NaN/inf as in torch).
    """
    norm_type = float(norm_type)
    if norm_type < 1.0:
        raise ValueError(f"clip_grad_norm_: norm_type must be >= 1 (or inf), got {norm_type}")
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be non-negative, got {max_norm}")
    with no_grad():
        grads = [p.grad for p in _with_grads(parameters)]
        if not grads:
            return _C._zeros([], _C.float64, _C.device("cpu"))
        devices = {str(g.device) for g in grads}
        if len(devices) > 1:
            raise ValueError(f"clip_grad_norm_: gradients on several devices ({sorted(devices)}) are not supported")
        total = _device_total(grads, norm_type)
        if error_if_nonfinite and not math.isfinite(total.item()):
            raise ValueError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                             f"{total.item()}; the step would make the parameters non-finite")
        coef = _C.minimum(float(max_norm) / (total + 1e-6), 1.0)
        for g in grads:
            g.mul_(coef.to(dtype=g.dtype))
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamps every gradient element into [-clip_value, clip_value]."""
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value}")
    with no_grad():
        for p in _with_grads(parameters):
            g = p.grad
            g.copy_(_C.maximum(_C.minimum(g, float(clip_value)), -float(clip_value)))


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (a copy)."""
    return _C.cat([p.reshape(-1) for p in parameters], 0)


def vector_to_parameters(vec, parameters):
    """Copies consecutive slices of the 1-D `vec` into the parameters (in place, without recording)."""
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.dim() != 1 or vec.numel() != total:
        raise ValueError(f"vector_to_parameters: expected a 1-D tensor of {total} elements, got shape "
                         f"{list(vec.shape)}")
    offset = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p.copy_(vec.narrow(0, offset, n).reshape(*p.shape))
            offset += n

