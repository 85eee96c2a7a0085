"""matmul / mm / bmm against NumPy float64: shapes from empty to large, 1-D promotion, batch broadcasting,
transposed and sliced operands, every floating dtype; errors for ints and mismatched shapes."""

import numpy as np
import pytest

import iccrt
from helpers import FLOAT_DTYPES, TOL, assert_close, dtype_id, make, random_values


def _check(got, xa, xb, dtype):
    """Error bound of a dot product: rtol * (|A| @ |B|)."""
    expected = np.matmul(xa, xb)
    r, a = TOL[dtype]
    bound = np.matmul(np.abs(xa), np.abs(xb))
    assert_close(got, expected, dtype, rtol=r, atol=a + r * bound)


@pytest.mark.parametrize("m, k, n", [(0, 3, 4), (3, 0, 4), (1, 1, 1), (7, 7, 7), (5, 1023, 3), (64, 96, 80),
                                     (512, 512, 512)])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
def test_mm_shapes(dtype, m, k, n):
    a, xa = make(random_values((m, k), dtype, seed=1, low=-1, high=1), dtype)
    b, xb = make(random_values((k, n), dtype, seed=2, low=-1, high=1), dtype)
    _check(iccrt.mm(a, b), xa, xb, dtype)
    if m * n <= 4096:
        _check(a @ b, xa, xb, dtype)
        _check(a.matmul(b), xa, xb, dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
def test_matmul_transposed_and_sliced(dtype):
    a0, xa0 = make(random_values((40, 30), dtype, seed=3), dtype)
    b0, xb0 = make(random_values((50, 40), dtype, seed=4), dtype)
    _check(a0.T @ b0.T, xa0.T, xb0.T, dtype)  # (30, 40) @ (40, 50), both transposed views
    _check(a0[::2, 1:] @ b0[:, 2:31].T[:, ::3], xa0[::2, 1:], xb0[:, 2:31].T[:, ::3], dtype)  # stepped views
    _check(a0[:, :20].T @ a0[:, 5:25], xa0[:, :20].T, xa0[:, 5:25], dtype)  # same storage on both sides


@pytest.mark.parametrize("shape_a, shape_b", [
    ((5,), (5,)),  # dot product -> 0-d
    ((5,), (5, 3)),
    ((4, 5), (5,)),
    ((2, 4, 5), (5, 3)),
    ((4, 5), (3, 5, 2)),
    ((2, 1, 4, 5), (3, 5, 6)),  # batch dims broadcast
    ((0, 4, 5), (5, 2)),
])
def test_matmul_numpy_semantics(shape_a, shape_b):
    a, xa = make(random_values(shape_a, iccrt.float64, seed=5), iccrt.float64)
    b, xb = make(random_values(shape_b, iccrt.float64, seed=6), iccrt.float64)
    _check(iccrt.matmul(a, b), xa, xb, iccrt.float64)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
def test_bmm(dtype):
    a, xa = make(random_values((6, 9, 17), dtype, seed=7), dtype)
    b, xb = make(random_values((6, 17, 5), dtype, seed=8), dtype)
    _check(iccrt.bmm(a, b), xa, xb, dtype)
    _check(a.bmm(b), xa, xb, dtype)
    _check(a.transpose(1, 2).transpose(1, 2).bmm(b.permute(0, 2, 1).transpose(1, 2)), xa, xb, dtype)


def test_matmul_errors():
    a = iccrt.ones(3, 4)
    with pytest.raises(ValueError):
        a @ iccrt.ones(3, 4)  # inner dims differ
    with pytest.raises(TypeError):
        a @ iccrt.ones(4, 2, dtype=iccrt.float64)
    with pytest.raises(TypeError):
        iccrt.ones(3, 4, dtype=iccrt.int64) @ iccrt.ones(4, 2, dtype=iccrt.int64)  # floating only
    with pytest.raises(ValueError):
        iccrt.mm(iccrt.ones(2, 3, 4), iccrt.ones(4, 2))  # mm is 2-D only
    with pytest.raises(ValueError):
        iccrt.bmm(iccrt.ones(2, 3, 4), iccrt.ones(3, 4, 2))  # batch sizes differ
    with pytest.raises(ValueError):
        iccrt.matmul(iccrt.ones(()), iccrt.ones(3))  # 0-d operands
