"""Tensor factories with torch's argument forms: sizes as varargs or one sequence, dtype inferred like torch
(ints -> int64, floats -> float32, bools -> bool), device as an iccrt.device, a string or a CUDA ordinal."""

import builtins
import operator

import numpy as np

from . import _C
from ._C import Tensor
from ._tensor import _as_device, _as_dtype

_CPU = _C.device("cpu")

# NumPy dtype each iccrt dtype is built through (bfloat16 goes through float32 and converts in iccrt).
_NUMPY_OF = {
    _C.float32: np.float32,
    _C.float64: np.float64,
    _C.float16: np.float16,
    _C.bfloat16: np.float32,
    _C.int32: np.int32,
    _C.int64: np.int64,
    _C.uint8: np.uint8,
    _C.bool: np.bool_,
}


def _requires_grad(t, requires_grad):
    """t with requires_grad set when asked (floating dtypes only, as torch)."""
    if requires_grad:
        t.requires_grad_(True)
    return t


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    out = []
    for s in size:
        if isinstance(s, builtins.bool):
            raise TypeError("sizes must be ints, got bool")
        out.append(operator.index(s))  # TypeError for floats and other non-integers
    return out


def _dtype(dtype, default=_C.float32):
    return default if dtype is None else _as_dtype(dtype)


def _device(device):
    return _CPU if device is None else _as_device(device)


def _scalar_dtype(value):
    """The dtype torch infers for a Python / NumPy number."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return _C.bool
    if isinstance(value, (builtins.int, np.integer)):
        return _C.int64
    if isinstance(value, (builtins.float, np.floating)):
        return _C.float32
    raise TypeError(f"expected a number (bool, int or float), got {type(value).__name__}")


def empty(*size, dtype=None, device=None, requires_grad=False):
    """Uninitialised tensor of the given size."""
    return _requires_grad(_C._empty(_size(size), _dtype(dtype), _device(device)), requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _requires_grad(_C._zeros(_size(size), _dtype(dtype), _device(device)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _requires_grad(_C._ones(_size(size), _dtype(dtype), _device(device)), requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor of `size` filled with `fill_value`; dtype inferred from the value when not given."""
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    dt = _scalar_dtype(fill_value) if dtype is None else _as_dtype(dtype)
    return _requires_grad(_C._full(_size((size,)), fill_value, dt, _device(device)), requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values from start (default 0) up to but excluding end, step apart. int64 when all arguments are ints."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (builtins.int, np.integer)) and not isinstance(v, builtins.bool)
                   for v in (start, end, step))
        dtype = _C.int64 if ints else _C.float32
    return _requires_grad(_C._arange(start, end, step, _as_dtype(dtype), _device(device)), requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1); reproducible with iccrt.manual_seed or generator=iccrt.Generator(seed)."""
    return _requires_grad(_C._rand(_size(size), _dtype(dtype), _device(device), generator), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal; reproducible with iccrt.manual_seed or generator=iccrt.Generator(seed)."""
    return _requires_grad(_C._randn(_size(size), _dtype(dtype), _device(device), generator), requires_grad)


def _like(input, dtype, device):
    return list(input.shape), _dtype(dtype, input.dtype), input.device if device is None else _as_device(device)


def empty_like(input, *, dtype=None, device=None, requires_grad=False):
    return _requires_grad(_C._empty(*_like(input, dtype, device)), requires_grad)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False):
    return _requires_grad(_C._zeros(*_like(input, dtype, device)), requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False):
    return _requires_grad(_C._ones(*_like(input, dtype, device)), requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    shape, dt, dev = _like(input, dtype, device)
    return _requires_grad(_C._full(shape, fill_value, dt, dev), requires_grad)


def rand_like(input, *, generator=None, dtype=None, device=None, requires_grad=False):
    return _requires_grad(_C._rand(*_like(input, dtype, device), generator), requires_grad)


def randn_like(input, *, generator=None, dtype=None, device=None, requires_grad=False):
    return _requires_grad(_C._randn(*_like(input, dtype, device), generator), requires_grad)


def tensor(data, *, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of `data`: nested lists / tuples of numbers, a number, a NumPy array or a tensor.

    Without `dtype`: NumPy arrays keep their dtype; Python data infers bool, int64 (ints) or float32 (floats).
    """
    device = _device(device)
    if isinstance(data, Tensor):
        src = data.detach()  # a new leaf, as torch.tensor(t): no history
        t = src.to(dtype=_dtype(dtype, data.dtype), device=device)
        if t._storage_ptr() == src._storage_ptr():  # to() returns the same data when nothing changes
            t = t.clone()
        return _requires_grad(t, requires_grad)
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
        inferred = None  # keep NumPy's dtype
    else:
        try:
            arr = np.array(data)
        except ValueError as e:  # ragged nesting
            raise ValueError(f"can't build a tensor from {type(data).__name__}: {e}") from None
        kind = arr.dtype.kind
        if kind == "b":
            inferred = _C.bool
        elif kind in "iu":
            inferred = _C.int64
        elif kind == "f":
            inferred = _C.float32
        else:
            raise TypeError(f"can't build a tensor from {type(data).__name__} holding {arr.dtype} values; "
                            "expected numbers (bool, int, float), possibly nested in lists")
    target = _dtype(dtype, inferred) if (dtype is not None or inferred is not None) else None
    if target is not None and arr.dtype != _NUMPY_OF[target]:
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"can't convert a NumPy array of dtype {arr.dtype} to a tensor")
        arr = arr.astype(_NUMPY_OF[target])
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # (np.ascontiguousarray would turn 0-d into 1-d)
    t = _C.from_numpy(arr)  # TypeError for NumPy dtypes iccrt has no match for
    t = t.clone() if target is None or t.dtype == target else t._to(_CPU, target)
    return _requires_grad(t if device == _CPU else t._to(device, t.dtype), requires_grad)
