"""Basic indexing (ints, slices, None, ..., tuples) against NumPy: results are views; assignment writes through;
bad indices raise IndexError / ValueError / TypeError; advanced indexing raises NotImplementedError for now."""

import numpy as np
import pytest

import iccrt
from helpers import assert_close, make, random_values, shares_memory

INDICES = [
    0, -1, 3, (1, 2), (-2, -3, 0), slice(None), slice(1, 4), slice(None, None, 2), slice(-3, None), slice(4, 1),
    slice(1, 100), slice(-100, 2), slice(None, None, 3), (slice(None), 1), (Ellipsis, 1), (1, Ellipsis),
    (None,), (None, 1, None), (Ellipsis, None), (slice(1, 3), None, slice(None, None, 2)), (Ellipsis,),
    (2, slice(None), -1), (1, 2, 3), (), (np.int64(1), slice(np.int32(0), None)), (0, Ellipsis, 0, None),
]


@pytest.mark.parametrize("idx", INDICES, ids=repr)
def test_getitem_matches_numpy_and_is_a_view(idx):
    t, x = make(random_values((5, 6, 7), iccrt.float32, seed=1), iccrt.float32)
    v = t[idx]
    expected = x[idx]
    assert_close(v, expected)
    if v.numel():
        assert shares_memory(v, t)


def test_index_0d_and_integer_tensor_index():
    t = iccrt.arange(10)
    assert t[iccrt.tensor(3)].item() == 3  # a 0-d integer tensor indexes like an int
    s = iccrt.tensor(5.0)
    assert s[None].shape == (1,) and s[...].shape == () and s[()].shape == ()
    with pytest.raises(IndexError):
        s[0]


def test_setitem_writes_through():
    t = iccrt.zeros(4, 5)
    x = np.zeros((4, 5))
    cases = [
        (1, 3.0), ((2, 4), -1.0), ((slice(None), 0), 7), (slice(None, None, 2), iccrt.arange(5).float()),
        ((Ellipsis, slice(1, 3)), iccrt.tensor([[9.0], [8.0], [7.0], [6.0]])), ((None, 3), 2.5),
        (-1, [1.0, 2.0, 3.0, 4.0, 5.0]), ((0, slice(1, None, 2)), np.array([4.0, 4.5])), ((3, 0), True),
    ]
    for idx, value in cases:
        t[idx] = value
        x[idx] = value.numpy() if isinstance(value, iccrt.Tensor) else value
        assert_close(t, x)


def test_setitem_casts_and_checks():
    i = iccrt.zeros(3, dtype=iccrt.int64)
    i[0] = 5
    i[1:] = iccrt.tensor([1.9, -2.9])  # copy_ converts (truncating), like torch
    assert i.tolist() == [5, 1, -2]
    with pytest.raises(TypeError):
        i[0] = 2.5  # a non-integral number into an integer tensor
    with pytest.raises(ValueError):
        i[:2] = iccrt.ones(3, dtype=iccrt.int64)  # does not broadcast to the view
    h = iccrt.zeros(2, dtype=iccrt.float16)
    h[1] = np.float32(0.25)
    assert h.tolist() == [0.0, 0.25]


@pytest.mark.parametrize("idx", [5, -6, (0, 6), (0, 0, 0, 0), (0, -7)])
def test_out_of_range_is_index_error(idx):
    t = iccrt.zeros(5, 6, 7)
    with pytest.raises(IndexError):
        t[idx]
    with pytest.raises(IndexError):
        t[idx] = 1.0


def test_bad_indices():
    t = iccrt.zeros(5, 6)
    with pytest.raises(ValueError):
        t[::-1]  # negative steps are not supported (as in torch)
    with pytest.raises(ValueError):
        t[:, ::0]
    with pytest.raises(IndexError):
        t[..., ...]
    with pytest.raises(TypeError):
        t[1.5]
    with pytest.raises(TypeError):
        t["a"]
    for advanced in [[0, 1], iccrt.tensor([0, 1]), np.array([0, 1]), t > 0, True, (slice(None), [1, 2])]:
        with pytest.raises(NotImplementedError):
            t[advanced]
        with pytest.raises(NotImplementedError):
            t[advanced] = 0.0


def test_index_empty_and_large():
    e = iccrt.zeros(0, 3)
    assert e[:, 1].shape == (0,) and e[1:].shape == (0, 3)
    with pytest.raises(IndexError):
        e[0]
    big, xb = make(random_values((1 << 20,), iccrt.float32, seed=3), iccrt.float32)
    assert_close(big[::1000], xb[::1000])
    assert_close(big[-5:], xb[-5:])
