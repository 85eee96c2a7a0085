"""Functions whose torch signatures need more than a direct binding: max / min (with their overloads and
(values, indices) results) and where (which takes Python numbers for either branch)."""

import builtins
import collections

from . import _C
from ._C import Tensor

# torch.return_types.max / min: tuples with .values and .indices
max_result = collections.namedtuple("max", ["values", "indices"])
min_result = collections.namedtuple("min", ["values", "indices"])


def max(input, dim=None, keepdim=False):
    """max(t) -> the largest element (0-d); max(t, dim, keepdim=False) -> (values, indices);
    max(t, other) -> elementwise maximum."""
    if isinstance(dim, Tensor):
        return _C.maximum(input, dim)
    if dim is None:
        return _C._max(input)
    values, indices = _C._max_dim(input, dim, keepdim)
    return max_result(values, indices)


def min(input, dim=None, keepdim=False):
    """min(t) -> the smallest element (0-d); min(t, dim, keepdim=False) -> (values, indices);
    min(t, other) -> elementwise minimum."""
    if isinstance(dim, Tensor):
        return _C.minimum(input, dim)
    if dim is None:
        return _C._min(input)
    values, indices = _C._min_dim(input, dim, keepdim)
    return min_result(values, indices)


def _number_dtype(v):
    if isinstance(v, builtins.bool):
        return _C.bool
    if isinstance(v, builtins.int):
        return _C.int64
    if isinstance(v, builtins.float):
        return _C.float32
    raise TypeError(f"where: expected a tensor or a number, got {type(v).__name__}")


def _scalar_tensor(v, like_dtype, device):
    """A 0-d tensor holding the number v in like_dtype (iccrt does not promote: 2.5 with an int tensor is an error)."""
    if isinstance(v, builtins.float) and not like_dtype.is_floating_point and not v.is_integer():
        raise TypeError(f"where: can't use the non-integral number {v} with a {like_dtype!r} tensor; "
                        "convert the tensor with .to(iccrt.float32) first")
    return _C._full([], v, like_dtype, device)


def where(condition, input=None, other=None):
    """Elements of `input` where `condition` (a bool tensor) is true, else of `other`; all three broadcast.
    `input` or `other` may be a Python number, taking the other operand's dtype."""
    if input is None and other is None:
        raise NotImplementedError("where(condition) (the indices of true elements) is not supported yet")
    a_t, b_t = isinstance(input, Tensor), isinstance(other, Tensor)
    if not a_t and not b_t:
        dt = _number_dtype(input)
        if _number_dtype(other) != dt:
            dt = _C.float32 if _C.float32 in (dt, _number_dtype(other)) else _C.int64
        input = _C._full([], input, dt, condition.device)
        other = _C._full([], other, dt, condition.device)
    elif not a_t:
        _number_dtype(input)
        input = _scalar_tensor(input, other.dtype, other.device)
    elif not b_t:
        _number_dtype(other)
        other = _scalar_tensor(other, input.dtype, input.device)
    return _C._where(condition, input, other)
