"""Python scalars with integer tensors: exact comparisons, range checks (never a silent wrap)."""
import numpy as np
import pytest

import iccrt

OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
       "!=": np.not_equal}


def apply(op, a, b):
    return {"<": lambda: a < b, "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,
            "==": lambda: a == b, "!=": lambda: a != b}[op]()


@pytest.mark.parametrize("dtype,npdtype", [(iccrt.uint8, np.uint8), (iccrt.int32, np.int32),
                                           (iccrt.int64, np.int64), (iccrt.bool, np.bool_)])
@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("scalar", [2.5, -2.5, 3.0, 300, -1, 1e30, -1e30, float("nan"), 0, 1, 2**40])
def test_integer_tensor_compared_with_any_scalar(dtype, npdtype, op, scalar):
    rng = np.random.default_rng(7)
    if npdtype is np.bool_:
        a = rng.integers(0, 2, size=37).astype(np.bool_)
    else:
        a = rng.integers(0, 6, size=37).astype(npdtype)
    got = apply(op, iccrt.from_numpy(a), scalar)
    want = OPS[op](a.astype(np.float64), float(scalar))
    assert got.dtype == iccrt.bool
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("dtype,bad", [(iccrt.uint8, 300), (iccrt.uint8, -1), (iccrt.int32, 2**31),
                                       (iccrt.int32, -(2**31) - 1), (iccrt.uint8, 1e10)])
def test_out_of_range_scalar_raises(dtype, bad):
    t = iccrt.ones(5, dtype=dtype)
    with pytest.raises(ValueError, match="out of range"):
        t + bad
    with pytest.raises(ValueError, match="out of range"):
        t.fill_(bad)
    with pytest.raises(ValueError, match="out of range"):
        iccrt.full((3,), bad, dtype=dtype)


def test_in_range_edges_are_exact():
    t = iccrt.zeros(3, dtype=iccrt.uint8)
    assert t.fill_(255).tolist() == [255, 255, 255]
    i = iccrt.zeros(2, dtype=iccrt.int64)
    i.fill_(2**62 + 1)
    assert i.tolist() == [2**62 + 1] * 2
