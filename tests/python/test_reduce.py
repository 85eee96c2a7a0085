"""Reductions against NumPy float64 references: sum / mean / var / max / min / argmax / argmin over all dims, one
dim, several dims, with keepdim, on every dtype each supports, contiguous and not."""

import numpy as np
import pytest

import iccrt
from helpers import (FLOAT_DTYPES, INT_DTYPES, SIZES, TOL, assert_close, dtype_id, make, random_values)

# (shape, dim) pairs: all dims, one dim (positive and negative), several dims
SHAPES_DIMS = [
    ((7, 33, 5), None),
    ((7, 33, 5), 0),
    ((7, 33, 5), -1),
    ((7, 33, 5), 1),
    ((7, 33, 5), (0, 2)),
    ((7, 33, 5), (2, 0, 1)),
    ((1023,), 0),
    ((4, 0, 3), 1),
    ((), None),
]


def _axis(dim):
    return tuple(dim) if isinstance(dim, tuple) else dim


def _sum_tol(x, dtype, axis, keepdims=False, scale=1.0):
    """Summation error grows with the sum of magnitudes: atol = rtol * sum(|x|)."""
    r, a = TOL[dtype]
    return r, a + r * scale * np.sum(np.abs(x), axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
def test_sum_mean_var_1d(dtype, size):
    t, x = make(random_values((size,), dtype, seed=size, low=-1, high=1), dtype)
    r, a = _sum_tol(x, dtype, None)
    assert_close(t.sum(), x.sum(), dtype, rtol=r, atol=a)
    if size:
        assert_close(iccrt.mean(t), x.mean(), dtype, rtol=r, atol=a / size)
    if size > 1:
        assert_close(t.var(), x.var(ddof=1), dtype)
        assert_close(t.var(correction=0), x.var(), dtype)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape, dim", SHAPES_DIMS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
def test_sum_mean_dims(dtype, shape, dim, keepdim):
    t, x = make(random_values(shape, dtype, seed=3), dtype)
    axis = _axis(dim)
    r, a = _sum_tol(x, dtype, axis, keepdim)
    assert_close(iccrt.sum(t, dim=dim, keepdim=keepdim), x.sum(axis=axis, keepdims=keepdim), dtype, rtol=r, atol=a)
    n = x.size if dim is None else np.prod([shape[d] for d in np.atleast_1d(dim)]) if shape else 1
    if n:
        assert_close(t.mean(dim, keepdim), x.mean(axis=axis, keepdims=keepdim), dtype, rtol=r, atol=a / n)


@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("shape, dim", [s for s in SHAPES_DIMS if 0 not in s[0] and s[0] != ()])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
def test_var_dims(dtype, shape, dim, correction):
    t, x = make(random_values(shape, dtype, seed=4), dtype)
    axis = _axis(dim)
    assert_close(iccrt.var(t, dim, correction=correction), x.var(axis=axis, ddof=correction), dtype)
    assert_close(t.var(dim, True, correction=correction), x.var(axis=axis, ddof=correction, keepdims=True), dtype)


def test_var_unbiased_keyword():
    t, x = make(random_values((50,), iccrt.float64, seed=1), iccrt.float64)
    assert_close(t.var(unbiased=False), x.var(), iccrt.float64)
    assert_close(t.var(unbiased=True), x.var(ddof=1), iccrt.float64)
    with pytest.raises(TypeError):
        t.var(correction=1, unbiased=True)
    with pytest.raises(ValueError):
        t.var(correction=-1)


@pytest.mark.parametrize("size", [0, 1, 7, 1023, 1 << 20])
@pytest.mark.parametrize("dtype", INT_DTYPES + [iccrt.bool], ids=dtype_id)
def test_sum_int_and_bool_is_int64(dtype, size):
    t, x = make(random_values((size,), dtype, seed=size), dtype)
    assert_close(t.sum(), x.astype(np.int64).sum(), iccrt.int64)


@pytest.mark.parametrize("dtype", INT_DTYPES + [iccrt.bool], ids=dtype_id)
def test_mean_var_reject_ints(dtype):
    t = iccrt.ones(4, dtype=dtype)
    with pytest.raises(TypeError):
        t.mean()
    with pytest.raises(TypeError):
        t.var()


def test_reductions_non_contiguous():
    base, xb = make(random_values((30, 40, 6), iccrt.float32, seed=8), iccrt.float32)
    for v, xv in [(base.permute(2, 0, 1), xb.transpose(2, 0, 1)), (base[::3, 1::2, :], xb[::3, 1::2, :]),
                  (base[:, :1, :].expand(30, 5, 6), np.broadcast_to(xb[:, :1, :], (30, 5, 6)))]:
        for dim in [None, 0, 1, 2, (0, 2)]:
            axis = _axis(dim)
            r, a = _sum_tol(xv, iccrt.float32, axis)
            assert_close(v.sum(dim), xv.sum(axis=axis), rtol=r, atol=a)
            assert_close(v.var(dim), xv.var(axis=axis, ddof=1))
            if isinstance(dim, int):
                assert_close(v.max(dim).values, xv.max(axis=dim))
                assert_close(v.argmin(dim), xv.argmin(axis=dim))


def test_empty_reductions():
    e = iccrt.zeros(0)
    assert e.sum().item() == 0.0
    assert np.isnan(e.mean().item())
    with pytest.raises(ValueError):
        e.max()
    with pytest.raises(ValueError):
        iccrt.zeros(3, 0).max(1)
    assert e.sum().shape == ()


def test_bad_dims():
    t = iccrt.ones(2, 3)
    with pytest.raises(IndexError):
        t.sum(2)
    with pytest.raises(IndexError):
        t.mean(-3)
    with pytest.raises(ValueError):
        t.sum((0, 0))  # repeated
    with pytest.raises(TypeError):
        t.sum(1.5)
    with pytest.raises(TypeError):
        t.sum("0")


# ---- max / min / argmax / argmin ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 7, 1023, 1 << 20])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES, ids=dtype_id)
def test_max_min_all(dtype, size):
    t, x = make(random_values((size,), dtype, seed=size), dtype)
    assert_close(t.max(), x.max(), dtype)
    assert_close(iccrt.min(t), x.min(), dtype)
    # The first extreme element, like NumPy (16-bit floats have many ties at this size).
    assert_close(t.argmax(), x.argmax(), iccrt.int64)
    assert_close(iccrt.argmin(t), x.argmin(), iccrt.int64)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + [iccrt.bool], ids=dtype_id)
def test_max_min_dim(dtype, dim, keepdim):
    t, x = make(random_values((9, 65, 4), dtype, seed=2), dtype)
    for fn, nfn, narg in [(iccrt.max, np.max, np.argmax), (iccrt.min, np.min, np.argmin)]:
        res = fn(t, dim, keepdim)
        values, indices = res  # unpacks like a tuple
        assert res.values is values and res.indices is indices
        assert_close(values, nfn(x, axis=dim, keepdims=keepdim), dtype)
        assert_close(indices, narg(x, axis=dim, keepdims=keepdim), iccrt.int64)
    assert_close(t.argmax(dim, keepdim), np.argmax(x, axis=dim, keepdims=keepdim), iccrt.int64)
    assert_close(iccrt.argmin(t, dim=dim, keepdim=keepdim), np.argmin(x, axis=dim, keepdims=keepdim), iccrt.int64)


def test_max_nan_propagates_and_two_tensor_form():
    t = iccrt.tensor([1.0, float("nan"), 3.0])
    assert np.isnan(t.max().item()) and np.isnan(t.min().item())
    a, xa = make([1.0, 5.0, -2.0], iccrt.float32)
    b, xb = make([2.0, 4.0, -3.0], iccrt.float32)
    assert_close(iccrt.max(a, b), np.maximum(xa, xb))
    assert_close(a.min(b), np.minimum(xa, xb))
