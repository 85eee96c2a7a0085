"""Basic indexing: t[i], t[a:b:s], t[None], t[...], and tuples of these. Results are views (no copy), so
`t[idx] = value` writes through to t. Advanced indexing (tensors or lists as indices) is not supported yet.
"""

import builtins
import operator

from . import _C
from ._C import Tensor

_INTEGRAL = (_C.int32, _C.int64, _C.uint8)


def _as_int(i):
    """An index usable as an int (Python / NumPy integers, 0-d integer tensors), or None."""
    if isinstance(i, builtins.bool):
        return None
    if isinstance(i, Tensor):
        return builtins.int(i.item()) if i.dim() == 0 and i.dtype in _INTEGRAL else None
    try:
        return operator.index(i)
    except TypeError:
        return None


def _unsupported(i):
    kind = type(i).__name__
    if isinstance(i, Tensor):
        kind = f"a {i.dtype!r} tensor of shape {tuple(i.shape)}"
    elif isinstance(i, builtins.bool):
        kind = "a bool"
    return NotImplementedError(
        f"advanced indexing with {kind} is not supported yet; use ints, slices, None and ... (basic indexing), "
        "which return views"
    )


def _view(t, idx):
    if not isinstance(idx, tuple):
        idx = (idx,)
    # Sort the entries first so errors name the first bad one, and count the dims the index consumes.
    consumed = 0
    ellipses = 0
    for i in idx:
        if i is None:
            continue
        if i is Ellipsis:
            ellipses += 1
        elif isinstance(i, slice) or _as_int(i) is not None:
            consumed += 1
        elif isinstance(i, (Tensor, list, builtins.bool)) or hasattr(i, "__array__"):
            raise _unsupported(i)
        else:
            raise TypeError(
                f"only integers, slices (`:`), ellipsis (`...`) and None are valid indices, got {type(i).__name__}"
            )
    if ellipses > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    ndim = t.dim()
    if consumed > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim} (got {consumed})")

    shape = t._shape()
    r = t._alias()
    dim = 0  # the dimension of `r` the next entry applies to
    src = 0  # the dimension of `t` it came from (for messages)
    for i in idx:
        if i is None:
            r = r.unsqueeze(dim)
            dim += 1
        elif i is Ellipsis:
            skip = ndim - consumed
            dim += skip
            src += skip
        elif isinstance(i, slice):
            step = 1 if i.step is None else operator.index(i.step)
            if step <= 0:
                raise ValueError(f"slice step must be positive, got {step}")
            start, stop, step = i.indices(shape[src])
            r = r._slice(dim, start, builtins.max(start, stop), step)
            dim += 1
            src += 1
        else:
            k = _as_int(i)
            size = shape[src]
            if not -size <= k < size:
                raise IndexError(f"index {k} is out of bounds for dimension {src} with size {size}")
            r = r.select(dim, k % size if size else k)
            src += 1
    return r


def getitem(self, idx):
    """t[idx] for basic indices: a view sharing t's memory."""
    return _view(self, idx)


def setitem(self, idx, value):
    """t[idx] = value: value (a number, or a tensor / array-like broadcasting to the view) is written into t."""
    view = _view(self, idx)
    if isinstance(value, Tensor):
        view.copy_(value)
    elif isinstance(value, (builtins.bool, builtins.int, builtins.float)) or type(value).__module__ == "numpy" and \
            getattr(value, "ndim", 1) == 0:
        view.fill_(value)
    else:
        from ._factories import tensor

        view.copy_(tensor(value, dtype=self.dtype))
