"""Factories: tensor() dtype inference, empty/zeros/ones/full/arange, the *_like forms, rand/randn statistics and
reproducibility with seeds and generators, and argument errors."""

import numpy as np
import pytest

import iccrt
from helpers import ALL_DTYPES, FLOAT_DTYPES, assert_close, dtype_id


@pytest.mark.parametrize("data, dtype, values", [
    ([1, 2, 3], iccrt.int64, [1, 2, 3]),
    ([1.0, 2, 3], iccrt.float32, [1, 2, 3]),
    ([True, False], iccrt.bool, [True, False]),
    ([[1, 2], [3, 4]], iccrt.int64, [[1, 2], [3, 4]]),
    ((1.5, -2.5), iccrt.float32, [1.5, -2.5]),
    (3, iccrt.int64, 3),
    (2.5, iccrt.float32, 2.5),
    (False, iccrt.bool, False),
    ([], iccrt.float32, np.zeros(0)),
    (np.arange(3, dtype=np.float64), iccrt.float64, [0, 1, 2]),  # NumPy arrays keep their dtype
    (np.arange(3, dtype=np.int32), iccrt.int32, [0, 1, 2]),
    (np.ones(2, dtype=np.float16), iccrt.float16, [1, 1]),
    (np.uint8(7), iccrt.uint8, 7),
    (np.float64(1.25), iccrt.float64, 1.25),
])
def test_tensor_inference(data, dtype, values):
    t = iccrt.tensor(data)
    assert t.dtype == dtype
    assert_close(t, np.asarray(values), dtype)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=dtype_id)
def test_tensor_explicit_dtype(dtype):
    t = iccrt.tensor([[0, 1, 2]], dtype=dtype)
    assert t.dtype == dtype and t.shape == (1, 3)
    assert t.tolist() == ([[False, True, True]] if dtype == iccrt.bool else [[0, 1, 2]])
    assert iccrt.tensor(np.array([1, 2], dtype=np.int16), dtype=dtype).tolist() == (
        [True, True] if dtype == iccrt.bool else [1, 2])


def test_tensor_copies():
    a = np.arange(4.0)
    t = iccrt.tensor(a)
    a[0] = 100
    assert t[0].item() == 0  # tensor() copies (from_numpy shares)
    u = iccrt.tensor(t)
    u[1] = -1
    assert t[1].item() == 1
    assert iccrt.tensor(t, dtype=iccrt.int32).dtype == iccrt.int32
    assert iccrt.tensor(np.arange(6.0).reshape(2, 3).T).tolist() == [[0, 3], [1, 4], [2, 5]]
    assert iccrt.tensor([iccrt.tensor(1.5), iccrt.tensor(2.5)]).tolist() == [1.5, 2.5]


def test_tensor_bad_data():
    with pytest.raises(ValueError):
        iccrt.tensor([[1, 2], [3]])  # ragged
    with pytest.raises(TypeError):
        iccrt.tensor(["a", "b"])
    with pytest.raises(TypeError):
        iccrt.tensor(np.ones(2, dtype=np.int16))  # a NumPy dtype iccrt does not have
    with pytest.raises(TypeError):
        iccrt.tensor(np.ones(2, dtype=np.complex64))
    with pytest.raises(TypeError):
        iccrt.tensor([1.0], dtype="float32")
    with pytest.raises(TypeError):
        iccrt.tensor(None)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=dtype_id)
def test_zeros_ones_full_empty(dtype):
    for shape_args in [(2, 3), ((2, 3),), ([2, 3],), (iccrt.Size([2, 3]),)]:
        assert iccrt.zeros(*shape_args, dtype=dtype).shape == (2, 3)
    assert_close(iccrt.zeros(2, 3, dtype=dtype), np.zeros((2, 3)), dtype)
    assert_close(iccrt.ones(4, dtype=dtype), np.ones(4), dtype)
    assert_close(iccrt.full((2, 2), 1, dtype=dtype), np.ones((2, 2)), dtype)
    e = iccrt.empty(3, 0, 2, dtype=dtype)
    assert e.shape == (3, 0, 2) and e.dtype == dtype and e.numel() == 0
    assert iccrt.zeros(()).shape == () and iccrt.ones([]).numel() == 1


def test_full_infers_dtype():
    assert iccrt.full((2,), 3).dtype == iccrt.int64
    assert iccrt.full((2,), 3.5).dtype == iccrt.float32
    assert iccrt.full((2,), True).dtype == iccrt.bool
    assert iccrt.full(3, -1.5, dtype=iccrt.float64).tolist() == [-1.5] * 3
    with pytest.raises(TypeError):
        iccrt.full((2,), 2.5, dtype=iccrt.int32)


def test_like_factories():
    t = iccrt.ones(2, 3, dtype=iccrt.float64)[:, ::2]  # non-contiguous source
    for fn in [iccrt.zeros_like, iccrt.ones_like, iccrt.empty_like, iccrt.rand_like, iccrt.randn_like]:
        r = fn(t)
        assert r.shape == (2, 2) and r.dtype == iccrt.float64 and r.is_contiguous()
        assert fn(t, dtype=iccrt.float32).dtype == iccrt.float32
    assert iccrt.zeros_like(t).sum().item() == 0 and iccrt.ones_like(t).sum().item() == 4
    f = iccrt.full_like(t, 7)
    assert f.dtype == iccrt.float64 and f.tolist() == [[7, 7], [7, 7]]
    assert iccrt.full_like(t, 2, dtype=iccrt.int32).dtype == iccrt.int32


@pytest.mark.parametrize("args, kwargs, expected", [
    ((5,), {}, np.arange(5)),
    ((2, 7), {}, np.arange(2, 7)),
    ((1, 10, 3), {}, np.arange(1, 10, 3)),
    ((10, 0, -3), {}, np.arange(10, 0, -3)),
    ((0, 1, 0.25), {}, np.arange(0, 1, 0.25)),
    ((-1.5, 2.0), {}, np.arange(-1.5, 2.0)),
    ((5,), {"dtype": iccrt.float64}, np.arange(5.0)),
    ((3, 3), {}, np.arange(3, 3)),
    ((0, 1 << 20), {}, np.arange(0, 1 << 20)),
])
def test_arange(args, kwargs, expected):
    t = iccrt.arange(*args, **kwargs)
    ints = all(isinstance(a, int) for a in args)
    assert t.dtype == kwargs.get("dtype", iccrt.int64 if ints else iccrt.float32)
    assert_close(t, expected)


def test_arange_errors():
    with pytest.raises(ValueError):
        iccrt.arange(0, 5, 0)
    with pytest.raises(TypeError):
        iccrt.arange(5, dtype=iccrt.bool)
    with pytest.raises(TypeError):
        iccrt.arange(0.5, 3, dtype=iccrt.int64)


def test_bad_sizes():
    with pytest.raises(ValueError):
        iccrt.zeros(-1)
    with pytest.raises(ValueError):
        iccrt.empty(2, -3)
    with pytest.raises(TypeError):
        iccrt.ones(2.5)
    with pytest.raises(TypeError):
        iccrt.ones("3")
    with pytest.raises(TypeError):
        iccrt.zeros(2, dtype=np.float32)
    with pytest.raises(ValueError):
        iccrt.zeros(2, device="gpu")
    with pytest.raises(ValueError):
        iccrt.zeros(*([1] * 13))  # more dims than tensors support


# ---- random ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
def test_rand_randn_statistics(dtype):
    n = 1 << 18
    u = iccrt.rand(n, dtype=dtype, generator=iccrt.Generator(1)).to(iccrt.float64).numpy()
    assert u.min() >= 0.0 and u.max() <= 1.0  # [0, 1) before rounding to a 16-bit dtype
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.01
    z = iccrt.randn(n, dtype=dtype, generator=iccrt.Generator(2)).to(iccrt.float64).numpy()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs((np.abs(z) < 1).mean() - 0.6827) < 0.01  # the normal shape, not just its moments


def test_rand_seeding_reproduces():
    iccrt.manual_seed(123)
    a = iccrt.rand(1000)
    b = iccrt.randn(3, 7)
    iccrt.manual_seed(123)
    assert iccrt.rand(1000).tolist() == a.tolist()
    assert iccrt.randn(3, 7).tolist() == b.tolist()
    assert iccrt.rand(1000).tolist() != a.tolist()  # the generator advanced
    g1, g2 = iccrt.Generator(5), iccrt.Generator(5)
    assert iccrt.randn(100, generator=g1).tolist() == iccrt.randn(100, generator=g2).tolist()
    assert iccrt.randn(100, generator=iccrt.Generator(6)).tolist() != iccrt.randn(100, generator=g1).tolist()
    g1.manual_seed(5)
    assert g1.initial_seed() == 5 and g1.offset == 0
    assert iccrt.manual_seed(9) is not None and iccrt.default_generator.initial_seed() == 9


def test_random_fill_methods_and_errors():
    t = iccrt.empty(3, 4)[:, ::2]  # non-contiguous
    t.uniform_(2.0, 3.0, generator=iccrt.Generator(0))
    assert 2.0 <= t.min().item() and t.max().item() <= 3.0
    t.normal_(10.0, 0.0)
    assert t.tolist() == [[10.0, 10.0]] * 3
    with pytest.raises(TypeError):
        iccrt.rand(3, dtype=iccrt.int64)
    with pytest.raises(TypeError):
        iccrt.randn(3, generator=1)
    with pytest.raises(ValueError):
        t.uniform_(1.0, 0.0)
