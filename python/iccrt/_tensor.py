"""The Python half of iccrt.Tensor: torch-style argument forms, conversions and protocols.

The class itself is bound in C++ (python/src/tensor.cpp); the methods here are attached to it at import, so
tensors returned from C++ have them too.
"""

import builtins
import operator

from . import _C, _formatting, _functional, _indexing
from ._C import Tensor

_FLOAT_DTYPES = (_C.float32, _C.float64, _C.float16, _C.bfloat16)


class Size(tuple):
    """A tensor's shape: a tuple of ints (like torch.Size)."""

    def __repr__(self):
        return f"iccrt.Size({list(self)})"

    def __getitem__(self, key):
        r = super().__getitem__(key)
        return Size(r) if isinstance(key, slice) else r

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


def _wrap_dim(dim, ndim):
    dim = operator.index(dim)
    if ndim == 0:
        raise IndexError(f"dimension specified as {dim} but tensor has no dimensions")
    if not -ndim <= dim < ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], but got {dim})")
    return dim % ndim


def _as_device(d):
    """An iccrt.device from a device, a string ('cpu', 'cuda', 'cuda:1') or a CUDA ordinal."""
    if isinstance(d, _C.device):
        return d
    if isinstance(d, str):
        return _C.device(d)
    if isinstance(d, builtins.int) and not isinstance(d, builtins.bool):
        return _C.device("cuda", d)
    raise TypeError(f"expected a device (iccrt.device, 'cpu', 'cuda:N' or an int), got {type(d).__name__}")


def _as_dtype(t):
    if isinstance(t, _C.dtype):
        return t
    raise TypeError(f"expected an iccrt.dtype (e.g. iccrt.float32), got {t!r}")


# ---- shape and strides ---------------------------------------------------------------------------------------


def _shape(self):
    return Size(self._shape())


def size(self, dim=None):
    """The shape (an iccrt.Size), or the size of one dimension."""
    s = self._shape()
    return Size(s) if dim is None else s[_wrap_dim(dim, len(s))]


def stride(self, dim=None):
    """Strides in elements: a tuple, or the stride of one dimension."""
    s = self._stride()
    return s if dim is None else s[_wrap_dim(dim, len(s))]


def _T(self):
    """All dimensions reversed (the transpose for 2-D tensors)."""
    return self.permute(*reversed(range(self.dim())))


def flatten(self, start_dim=0, end_dim=-1):
    """Merges dims start_dim..end_dim into one (a view when the strides allow, else a copy)."""
    shape = self._shape()
    if not shape:
        return self.reshape(1)
    start, end = _wrap_dim(start_dim, len(shape)), _wrap_dim(end_dim, len(shape))
    if start > end:
        raise ValueError("flatten() has invalid args: start_dim cannot come after end_dim")
    merged = 1
    for s in shape[start : end + 1]:
        merged *= s
    return self.reshape(shape[:start] + (merged,) + shape[end + 1 :])


# ---- conversions -----------------------------------------------------------------------------------------------


def to(self, *args, **kwargs):
    """t.to(device), t.to(dtype), t.to(device, dtype), t.to(other), with keywords device=, dtype=, copy=.

    Returns `self` when nothing changes (unless copy=True), like torch.
    """
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)  # accepted for torch compatibility; copies are synchronous
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, _C.dtype):
            dtype = a
        elif isinstance(a, (_C.device, str)):
            device = a
        elif isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        else:
            raise TypeError(f"to() expects a device, a dtype or a tensor, got {type(a).__name__}")
    device = self.device if device is None else _as_device(device)
    dtype = self.dtype if dtype is None else _as_dtype(dtype)
    if device == self.device and dtype == self.dtype:
        return self.clone() if copy else self
    return self._to(device, dtype)


def cpu(self):
    return self.to(device="cpu")


def cuda(self, device=None):
    return self.to(device=_as_device("cuda" if device is None else device))


def _caster(dt):
    def cast(self):
        return self.to(dtype=dt)

    cast.__name__ = dt.name
    cast.__doc__ = f"The tensor as {dt!r} (itself when it already is)."
    return cast


def type_as(self, other):
    return self.to(dtype=other.dtype)


def _host_numpy(t):
    """A NumPy view (or copy, for CUDA and bfloat16) of the tensor's values."""
    if not t.is_cpu:
        t = t.cpu()
    if t.dtype == _C.bfloat16:
        t = t.to(dtype=_C.float32)
    return t.numpy()


def tolist(self):
    """The values as (nested) Python lists of bool / int / float; a number for 0-d tensors."""
    return _host_numpy(self).tolist()


def __array__(self, dtype=None, copy=None):
    a = self.numpy()
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    return a.copy() if copy else a


def _one_element(self, what):
    if self.numel() != 1:
        raise ValueError(f"only one element tensors can be converted to Python {what}s (got {self.numel()} elements)")
    return self.item()


def __bool__(self):
    if self.numel() != 1:
        raise RuntimeError(f"Boolean value of Tensor with {self.numel()} values is ambiguous")
    return builtins.bool(self.item())


def __float__(self):
    return builtins.float(_one_element(self, "float"))


def __int__(self):
    return builtins.int(_one_element(self, "int"))


def __index__(self):
    if self.dtype not in (_C.int32, _C.int64, _C.uint8) or self.numel() != 1:
        raise TypeError("only integer tensors of a single element can be converted to an index")
    return builtins.int(self.item())


def __len__(self):
    if self.dim() == 0:
        raise TypeError("len() of a 0-d tensor")
    return self._shape()[0]


def __iter__(self):
    if self.dim() == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self.select(0, i) for i in range(self._shape()[0]))


def __format__(self, spec):
    if self.dim() == 0:
        return format(self.item(), spec)
    return object.__format__(self, spec)


def __deepcopy__(self, memo):
    r = self.clone()
    memo[id(self)] = r
    return r


def __copy__(self):
    return self._alias()


def __reduce_ex__(self, protocol):
    # Pickles by value (a NumPy copy of the data, plus dtype and device).
    host = self if self.is_cpu else self.cpu()
    if host.dtype == _C.bfloat16:
        return (_unpickle, (host.to(dtype=_C.float32).numpy().copy(), "bfloat16", str(self.device)))
    return (_unpickle, (host.numpy().copy(), host.dtype.name, str(self.device)))


def _unpickle(array, dtype_name, device_str):
    t = _C.from_numpy(array).clone()
    return t._to(_C.device(device_str), getattr(_C, dtype_name))


def where(self, condition, other):
    """self where condition is true, else other."""
    return _functional.where(condition, self, other)


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    return _C._uniform_(self, a, b, generator)


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    return _C._normal_(self, mean, std, generator)


def _install():
    Tensor.shape = property(_shape, doc="The shape, an iccrt.Size (a tuple of ints).")
    Tensor.T = property(_T, doc="All dimensions reversed (2-D: the transpose).")
    Tensor.__array_priority__ = 1000  # NumPy defers `ndarray op tensor` to the tensor's reflected operator
    for name, fn in {
        "size": size,
        "stride": stride,
        "flatten": flatten,
        "to": to,
        "cpu": cpu,
        "cuda": cuda,
        "type_as": type_as,
        "tolist": tolist,
        "uniform_": uniform_,
        "normal_": normal_,
        "max": _functional.max,
        "min": _functional.min,
        "where": where,
        "__array__": __array__,
        "__bool__": __bool__,
        "__float__": __float__,
        "__int__": __int__,
        "__index__": __index__,
        "__len__": __len__,
        "__iter__": __iter__,
        "__format__": __format__,
        "__deepcopy__": __deepcopy__,
        "__copy__": __copy__,
        "__reduce_ex__": __reduce_ex__,
        "__getitem__": _indexing.getitem,
        "__setitem__": _indexing.setitem,
        "__repr__": _formatting.tensor_repr,
        "__str__": _formatting.tensor_repr,
    }.items():
        setattr(Tensor, name, fn)
    for name, dt in {
        "float": _C.float32,
        "double": _C.float64,
        "half": _C.float16,
        "bfloat16": _C.bfloat16,
        "int": _C.int32,
        "long": _C.int64,
        "byte": _C.uint8,
        "bool": _C.bool,
    }.items():
        setattr(Tensor, name, _caster(dt))


_install()
