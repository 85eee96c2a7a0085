"""Shared test helpers: dtypes, per-dtype tolerances, random inputs and comparison against float64 references.

References are computed in NumPy float64 from the values the tensor actually holds (after rounding to its dtype),
so the tolerance only has to cover the op's own rounding.
"""

import numpy as np
import pytest

import iccrt

FLOAT_DTYPES = [iccrt.float32, iccrt.float64, iccrt.float16, iccrt.bfloat16]
INT_DTYPES = [iccrt.int32, iccrt.int64, iccrt.uint8]
ALL_DTYPES = FLOAT_DTYPES + INT_DTYPES + [iccrt.bool]
SIZES = [0, 1, 7, 1023, 1 << 20]

# (rtol, atol) for results of each dtype
TOL = {
    iccrt.float64: (1e-12, 1e-12),
    iccrt.float32: (1e-5, 1e-6),
    iccrt.float16: (1e-3, 1e-3),
    iccrt.bfloat16: (1e-2, 1e-2),
}

NUMPY_OF = {
    iccrt.float32: np.float32,
    iccrt.float64: np.float64,
    iccrt.float16: np.float16,
    iccrt.int32: np.int32,
    iccrt.int64: np.int64,
    iccrt.uint8: np.uint8,
    iccrt.bool: np.bool_,
}

requires_cuda = pytest.mark.skipif(not iccrt.cuda.is_available(), reason="no CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=requires_cuda)]


def dtype_id(dt):
    return dt.name


def rng(seed=0):
    return np.random.default_rng(seed)


def random_values(shape, dtype, seed=0, low=-2.0, high=2.0):
    """Random float64 values suited to `dtype`: floats in [low, high), ints in a small range, bools mixed.
    Never all zeros."""
    g = rng(seed)
    if dtype == iccrt.bool:
        a = g.random(shape) < 0.5
        if a.size:
            a.flat[0] = True
        return a
    if dtype in INT_DTYPES:
        lo, hi = (0, 256) if dtype == iccrt.uint8 else (-100, 100)
        a = g.integers(lo, hi, size=shape)
        if a.size:
            a.flat[0] = 3
        return a
    a = g.uniform(low, high, size=shape)
    if a.size:
        a.flat[0] = 0.5 * (low + high) + 0.25 * (high - low)  # a known non-zero value
    return a


def make(values, dtype, device="cpu"):
    """A tensor of `dtype` holding `values` (rounded to the dtype) and those rounded values as a NumPy array
    (float64 for floating dtypes, int64 for integers, bool for bool)."""
    t = iccrt.tensor(np.asarray(values), dtype=dtype, device=device)
    return t, to_numpy(t)


def to_numpy(t):
    """The tensor's values as float64 / int64 / bool NumPy (any device, any dtype)."""
    if t.is_cuda:
        t = t.cpu()
    if t.dtype.is_floating_point:
        return t.to(iccrt.float64).numpy()
    if t.dtype == iccrt.bool:
        return t.numpy().copy()
    return t.to(iccrt.int64).numpy()


def assert_close(got, expected, dtype=None, rtol=None, atol=None):
    """got: a tensor; expected: float64/int64/bool NumPy values. Checks shape, dtype (if given) and values."""
    assert isinstance(got, iccrt.Tensor), type(got)
    if dtype is not None:
        assert got.dtype == dtype, f"dtype {got.dtype!r}, expected {dtype!r}"
    expected = np.asarray(expected)
    assert tuple(got.shape) == expected.shape, f"shape {tuple(got.shape)}, expected {expected.shape}"
    g = to_numpy(got)
    if got.dtype.is_floating_point:
        r, a = TOL[got.dtype]
        r, a = (r if rtol is None else rtol), (a if atol is None else atol)
        e = expected.astype(np.float64)
        with np.errstate(invalid="ignore"):
            ok = (np.abs(g - e) <= a + r * np.abs(e)) | (np.isnan(g) & np.isnan(e)) | (g == e)
        if not ok.all():  # the slow path, for its message
            np.testing.assert_allclose(g, e, rtol=r, atol=a, equal_nan=True)
    else:
        np.testing.assert_array_equal(g, expected)


def shares_memory(a, b):
    """Whether two CPU tensors view overlapping memory (through their NumPy views)."""
    return np.shares_memory(a.numpy(), b.numpy())
